"""`ticketing projections rebuild`: replay both logs into a fresh generation, then switch to it.

The switch is one SET of the pointer. A running projector keeps writing the old generation
until then; its next transaction sees the pointer moved (it WATCHes it), commits nothing, and
starts again from the new generation's own stored positions. Each generation's documents and
positions were always written together, so across the switch nothing is lost or applied twice.
The old generation's keys are deleted after a grace period, so that readers who read the
pointer just before the switch still find their documents.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from redis.asyncio import Redis

from projections.keys import Generation, Keyspace
from projections.projectors import CatalogueProjector, Projector, SalesProjector
from projections.store import position_of
from services.common.application import utc_now
from services.common.settings import Settings
from services.payments.application import Orders
from services.tickets.application import Tickets

PAGE = 1000  # the applications' log_section_size
DELETE_CHUNK = 500


class Progress:
    """A one-line progress bar on a text stream."""

    def __init__(self, out: TextIO, label: str, total: int) -> None:
        self.out, self.label, self.total = out, label, max(total, 1)

    def show(self, done: int) -> None:
        share = min(done / self.total, 1.0)
        bar = "#" * int(share * 30)
        self.out.write(f"\r{self.label:<14} [{bar:<30}] {done}/{self.total} ({share:.0%})")
        self.out.flush()

    def finish(self, done: int) -> None:
        self.show(done)
        self.out.write("\n")


async def catch_up(
    projector: Projector,
    generation: Generation,
    *,
    require_current: bool = True,
    progress: Progress | None = None,
    stop: int | None = None,
) -> int:
    """Apply the projector's log from generation's position to its end (or to notification
    id stop, inclusive); return the position."""
    position = await position_of(projector.redis, generation, projector.log)
    while stop is None or position < stop:
        notifications = await asyncio.to_thread(
            projector.app.notification_log.select, position + 1, PAGE, stop
        )
        if notifications:
            batch = await asyncio.to_thread(projector.digest, notifications)
            await projector.apply(generation, batch, require_current=require_current)
            position = notifications[-1].id
            if progress is not None:
                progress.show(position)
        if len(notifications) < PAGE:
            break
    if progress is not None:
        progress.finish(position)
    return position


async def rebuild(
    settings: Settings,
    redis: Redis,
    *,
    clock: Callable[[], datetime] = utc_now,
    grace_seconds: float = 2.0,
    out: TextIO = sys.stderr,
) -> Generation:
    """Fill a new generation from both logs, point readers at it, delete the old one."""
    keyspace = Keyspace(settings.ticketing_redis_namespace)
    tickets = await asyncio.to_thread(Tickets, env=settings.event_store_env("tickets"))
    orders = await asyncio.to_thread(Orders, env=settings.event_store_env("payments"))
    try:
        generation = keyspace.new_generation()
        for projector in (
            CatalogueProjector(tickets, redis, keyspace, clock=clock, publish=False),
            SalesProjector(orders, redis, keyspace, clock=clock, publish=False),
        ):
            head = await asyncio.to_thread(projector.app.recorder.max_notification_id)
            progress = Progress(out, f"{projector.log} log", head or 0)
            await catch_up(projector, generation, require_current=False, progress=progress)
    finally:
        tickets.close()
        orders.close()
    old = await switch(redis, keyspace, generation)
    out.write(f"read models now at {generation.prefix}\n")
    if old is not None and old != generation:
        await asyncio.sleep(grace_seconds)
        deleted = await delete_generation(redis, old)
        out.write(f"deleted {deleted} keys of {old.prefix}\n")
    return generation


async def switch(redis: Redis, keyspace: Keyspace, generation: Generation) -> Generation | None:
    """Point readers and projectors at generation in one SET; return the one it replaced."""
    old = await redis.set(keyspace.pointer, generation.prefix, get=True)
    return Generation(old.decode()) if old is not None else None


async def delete_generation(redis: Redis, generation: Generation) -> int:
    """Delete every key under the generation's prefix; return how many."""
    deleted = 0
    chunk: list[bytes] = []
    async for key in redis.scan_iter(match=f"{generation.prefix}:*", count=1000):
        chunk.append(key)
        if len(chunk) >= DELETE_CHUNK:
            deleted += await redis.unlink(*chunk)
            chunk = []
    if chunk:
        deleted += await redis.unlink(*chunk)
    return deleted
