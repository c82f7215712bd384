"""Aggregates as of each event, advanced in memory and reloaded when the versions don't line up."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

DEFAULT_CACHE_SIZE = 10_000


class AggregateCache:
    """The latest aggregates a projector has seen, least recently used evicted first.

    `advance(event)` gives the aggregate just after the event: the cached one mutated when it is
    at the version before, otherwise the one loaded at that version from the repository (after
    a restart, a replay from an older position, or an eviction).
    """

    def __init__(self, app: Application[UUID], maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        self.app = app
        self.maxsize = maxsize
        self.aggregates: OrderedDict[UUID, Any] = OrderedDict()

    def state_before(self, event: Any) -> Any | None:
        """The aggregate as it was just before event (None before its first event)."""
        version = event.originator_version - 1
        if version < 1:
            return None
        cached = self.aggregates.get(event.originator_id)
        if cached is not None and cached.version == version:
            self.aggregates.move_to_end(event.originator_id)
            if type(cached) is Unbuilt:
                cached = self.aggregates[event.originator_id] = cached.build(self.app)
            return cached
        aggregate = self.app.repository.get(event.originator_id, version=version)
        self._keep(event.originator_id, aggregate)
        return aggregate

    def covers(self, notifications: Sequence[Notification]) -> bool:
        """Whether advancing through these notifications, in order, loads nothing."""
        versions: dict[Any, int] = {}
        for notification in notifications:
            aggregate_id = notification.originator_id
            version = versions.get(aggregate_id)
            if version is None:
                cached = self.aggregates.get(aggregate_id)
                version = cached.version if cached is not None else 0
            if notification.originator_version != version + 1:
                return False
            versions[aggregate_id] = version + 1
        return True

    def created(self, notification: Notification) -> None:
        """Remember an aggregate's first event without building the aggregate: it is built,
        exactly as `advance` would have, only if a later event needs it (in a rush most
        orders' next event comes after they have left the cache)."""
        self._keep(notification.originator_id, Unbuilt(notification))  # type: ignore[arg-type]

    def advance(self, event: Any) -> Any:
        """The aggregate just after event."""
        aggregate = event.mutate(self.state_before(event))
        self._keep(event.originator_id, aggregate)
        return aggregate

    def _keep(self, aggregate_id: UUID, aggregate: Any) -> None:
        self.aggregates[aggregate_id] = aggregate
        self.aggregates.move_to_end(aggregate_id)
        while len(self.aggregates) > self.maxsize:
            self.aggregates.popitem(last=False)


class Unbuilt:
    """An aggregate known only by its first event, as stored: built when first needed."""

    def __init__(self, notification: Notification) -> None:
        self.notification = notification
        self.version = notification.originator_version

    def build(self, app: Application[UUID]) -> Any:
        """The aggregate just after its first event."""
        return app.mapper.to_domain_event(self.notification).mutate(None)
