"""The auditor's operations, shared by the gateway's /audit routes and `ticketing audit`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from domain.errors import NotFoundError
from projections.keys import Keyspace
from services.audit.history import state_as_of
from services.audit.index import GlobalLog, LogPage, open_index_database
from services.audit.readmodels import compare_read_models
from services.audit.sources import EventSources
from services.audit.verify import DEFAULT_GRACE, Progress, Report, replay_and_check
from services.common.application import utc_now
from services.common.settings import Settings


class Audit:
    """History, state as of a moment, the global log and verification."""

    def __init__(
        self,
        sources: EventSources,
        global_log: GlobalLog,
        *,
        keyspace: Keyspace,
        redis: Redis | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sources = sources
        self.global_log = global_log
        self.keyspace = keyspace
        self.redis = redis
        self.clock = clock
        self._verifying = asyncio.Lock()

    @classmethod
    def open(cls, settings: Settings, redis: Redis | None) -> Audit:
        """Open both event stores and the audit index (blocking)."""
        sources = EventSources.open(settings)
        return cls(
            sources,
            GlobalLog(sources, open_index_database(settings)),
            keyspace=Keyspace(settings.ticketing_redis_namespace),
            redis=redis,
        )

    def close(self) -> None:
        self.global_log.database.close()
        self.sources.close()

    async def stream(self, aggregate_id: UUID) -> dict[str, Any]:
        """GET /audit/streams/{id}."""
        events = await asyncio.to_thread(self.sources.stream, aggregate_id)
        if not events:
            raise NotFoundError(f"no stream {aggregate_id} in any service")
        return {
            "aggregate_id": str(aggregate_id),
            "aggregate_type": events[0].aggregate_type,
            "service": events[0].log,
            "events": [event.as_stream_item() for event in events],
        }

    async def log(self, after: int, limit: int) -> LogPage:
        """GET /audit/log."""
        return await asyncio.to_thread(self.global_log.page, after, limit)

    async def state(self, event_id: UUID, as_of: datetime | None) -> dict[str, Any]:
        """GET /audit/events/{id}/state."""
        return await asyncio.to_thread(state_as_of, self.sources, event_id, as_of or self.clock())

    async def verify(
        self,
        *,
        grace: timedelta = DEFAULT_GRACE,
        progress: Progress | None = None,
        read_models: bool = True,
    ) -> Report:
        """POST /audit/verify and `ticketing audit verify`: one verification at a time."""
        async with self._verifying:
            replay = await asyncio.to_thread(
                replay_and_check, self.sources, now=self.clock(), grace=grace, progress=progress
            )
            report = replay.report
            if self.redis is None or not read_models:
                report.read_models = "not checked: no Redis server is configured (REDIS_URL)"
                return report

            def paid_revenue(positions: dict[str, int]) -> dict[str, dict[str, int]]:
                if positions == report.positions:
                    return replay.paid_revenue()
                # The read models were compared at other positions: sum the orders there.
                return replay_and_check(self.sources, stops=positions).paid_revenue()

            outcome, violations = await compare_read_models(
                self.sources, self.redis, self.keyspace, self.clock, paid_revenue
            )
            report.read_models = outcome
            report.violations += violations
            return report
