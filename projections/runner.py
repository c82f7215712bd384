"""The projections process: both projectors and the sales-window clock, each supervised.

A projector that raises is logged and restarted, after a short pause, from the position stored
in Redis with a fresh aggregate cache; nothing it did half-way was committed. One lock makes
this process's writers take turns, so they never make each other's transactions retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.application import Application
from redis.asyncio import Redis

from projections.connection import connect_redis
from projections.follow import Follower, open_follower
from projections.keys import Generation, Keyspace
from projections.projectors import CatalogueProjector, Projector, SalesProjector
from projections.store import GenerationChangedError, position_of
from projections.windows import rerender_due_windows
from services.common import collector, loop
from services.common.application import utc_now
from services.common.logs import setup_logging
from services.common.metrics import (
    PROJECTION_LAG_NOTIFICATIONS,
    PROJECTION_LAG_SECONDS,
    serve_metrics,
)
from services.common.settings import Settings
from services.payments.application import Orders
from services.tickets.application import Tickets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerOptions:
    """How the runner paces itself."""

    batch_size: int = 500  # at most the applications' log_section_size
    poll_interval: float = 0.2  # how long one wait for new notifications lasts
    window_interval: float = 0.5  # how often passed sales-window boundaries are re-rendered
    restart_backoff: float = 1.0  # pause before restarting a failed part
    stop_grace: float = 5.0  # time the parts get to finish after stop_event


async def run_projections(
    settings: Settings,
    redis: Redis,
    stop_event: asyncio.Event,
    *,
    clock: Callable[[], datetime] = utc_now,
    options: RunnerOptions | None = None,
    caught_up: asyncio.Event | None = None,
) -> None:
    """Keep the read models of settings' event stores in redis until stop_event is set.

    caught_up is set once both projectors have applied everything their logs held: with an
    empty (embedded) Redis, that is when the read models have been rebuilt from the events.
    """
    options = options or RunnerOptions()
    behind = {CatalogueProjector.log, SalesProjector.log}

    def reached_the_end(log_name: str) -> None:
        behind.discard(log_name)
        if not behind and caught_up is not None:
            caught_up.set()

    keyspace = Keyspace(settings.ticketing_redis_namespace)
    tickets = await asyncio.to_thread(Tickets, env=settings.event_store_env("tickets"))
    orders = await asyncio.to_thread(Orders, env=settings.event_store_env("payments"))
    lock = asyncio.Lock()

    def follower_of(kind: type[Projector], app: Application[UUID]) -> Callable[[], Awaitable[None]]:
        async def body() -> None:
            projector = kind(app, redis, keyspace, clock=clock)
            await follow(projector, stop_event, lock, options, reached_the_end)

        return body

    async def windows() -> None:
        while not stop_event.is_set():
            async with lock:
                await rerender_due_windows(redis, keyspace, clock)
            await wait_for(stop_event, options.window_interval)

    parts = {
        "tickets projector": follower_of(CatalogueProjector, tickets),
        "payments projector": follower_of(SalesProjector, orders),
        "sales windows": windows,
    }
    tasks = [
        asyncio.create_task(supervise(name, body, stop_event, options.restart_backoff), name=name)
        for name, body in parts.items()
    ]
    try:
        await stop_event.wait()
        await asyncio.wait(tasks, timeout=options.stop_grace)
    finally:  # stopped, or cancelled ourselves: cancel what is still running, once
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tickets.close()
        orders.close()


async def supervise(
    name: str,
    body: Callable[[], Awaitable[None]],
    stop_event: asyncio.Event,
    backoff: float,
) -> None:
    """Run body until stop_event; when it raises, log and run it again after backoff."""
    while not stop_event.is_set():
        try:
            await body()
        except Exception:
            log.exception("%s failed; restarting from its stored position", name)
            await wait_for(stop_event, backoff)


async def follow(
    projector: Projector,
    stop_event: asyncio.Event,
    lock: asyncio.Lock,
    options: RunnerOptions,
    reached_the_end: Callable[[str], None] = lambda _log: None,
) -> None:
    """Follow the projector's log into whatever generation is current, until stop_event."""
    while not stop_event.is_set():
        generation = await projector.keyspace.ensure_current(projector.redis)
        position = await position_of(projector.redis, generation, projector.log)
        follower = await asyncio.to_thread(open_follower, projector.app, position)
        lag = Lag(projector, position, reached_the_end)
        try:
            await follow_generation(projector, generation, follower, stop_event, lock, options, lag)
        finally:
            await asyncio.to_thread(follower.close)


# A batch up to this size whose aggregates are all cached is decoded on the loop: a thread
# hop per batch cost more than the decoding of a rush's batch; a catch-up's stays off it.
INLINE_DIGEST_LIMIT = 64

# How often the lag gauges ask the event store for its newest position while batches flow.
LAG_MEASURE_SECONDS = 0.25


class Lag:
    """How far a projector is behind its log, kept in the projection-lag gauges."""

    def __init__(
        self, projector: Projector, position: int, reached_the_end: Callable[[str], None]
    ) -> None:
        self.projector = projector
        self.position = position
        self.reached_the_end = reached_the_end
        self.behind_since: float | None = None
        self.measured_at = float("-inf")
        self.notifications = PROJECTION_LAG_NOTIFICATIONS.labels(projector.log)
        self.seconds = PROJECTION_LAG_SECONDS.labels(projector.log)

    def caught_up(self) -> None:
        """The last poll found nothing new."""
        self.behind_since = None
        self.notifications.set(0)
        self.seconds.set(0)
        self.reached_the_end(self.projector.log)

    async def applied(self, position: int) -> None:
        """A batch up to position was applied; measure what remains (at most every interval)."""
        self.position = position
        now = time.monotonic()
        if now - self.measured_at < LAG_MEASURE_SECONDS:
            return  # in a rush batches come every few milliseconds: one query per interval
        self.measured_at = now
        newest = await asyncio.to_thread(self.projector.app.recorder.max_notification_id)
        remaining = max(0, (newest or 0) - position)
        if remaining == 0:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = now
        self.notifications.set(remaining)
        self.seconds.set(0 if self.behind_since is None else now - self.behind_since)


async def follow_generation(
    projector: Projector,
    generation: Generation,
    follower: Follower,
    stop_event: asyncio.Event,
    lock: asyncio.Lock,
    options: RunnerOptions,
    lag: Lag | None = None,
) -> None:
    """Apply batches to generation; return on stop or once the pointer names another one."""
    task = asyncio.current_task()
    while not stop_event.is_set():
        if task is not None and task.cancelling():
            # Python 3.11's asyncio.wait_for, which redis-py wraps around each socket write,
            # drops a cancellation that arrives as the write completes (CPython gh-86296):
            # a batch that runs on without yielding elsewhere must not go on for ever.
            raise asyncio.CancelledError
        notifications = await follower.next_batch(options.batch_size, options.poll_interval)
        if not notifications:
            if lag is not None:
                lag.caught_up()
            if await projector.keyspace.current(projector.redis) != generation:
                return
            continue
        if len(notifications) <= INLINE_DIGEST_LIMIT and projector.cache.covers(notifications):
            batch = projector.digest(notifications)  # in memory, a fraction of a millisecond
        else:
            batch = await asyncio.to_thread(projector.digest, notifications)  # may load
        async with lock:
            try:
                await projector.apply(generation, batch)
            except GenerationChangedError:
                log.info("%s log: following the new generation", projector.log)
                return
        if lag is not None:
            await lag.applied(notifications[-1].id)


async def wait_for(stop_event: asyncio.Event, seconds: float) -> None:
    """Sleep for seconds, or less if stop_event is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop_event.wait(), seconds)


def main() -> None:
    """Run the projections on the environment's stores until SIGTERM or SIGINT."""
    settings = Settings()
    setup_logging(settings, "projections")
    serve_metrics(settings)
    if not settings.redis_url:
        log.warning("REDIS_URL is not set: read models live in this process's memory only")

    async def serve() -> None:
        redis = connect_redis(settings)
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_event.set)
        collector.settle()  # start-up's objects out of the collector's way (as in GrpcService)
        try:
            await run_projections(settings, redis, stop_event)
        finally:
            await redis.aclose()

    loop.run(serve())
