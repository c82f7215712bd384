"""Sales windows open and close with no event in any log: re-render documents just then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from redis.asyncio import Redis

from projections.keys import Keyspace
from projections.refresh import Changes, event_keys, refresh
from projections.store import GenerationChangedError, Plan, WatchedValues, commit

DUE_PER_ROUND = 100


async def rerender_due_windows(
    redis: Redis, keyspace: Keyspace, clock: Callable[[], datetime]
) -> list[str]:
    """Re-render the events whose next sales-window boundary has passed; return their ids."""
    generation = await keyspace.current(redis)
    if generation is None:
        return []
    now = clock()
    due = await redis.zrangebyscore(
        generation.windows, "-inf", now.timestamp(), start=0, num=DUE_PER_ROUND
    )
    event_ids = [member.decode() for member in due]
    if not event_ids:
        return []

    async def build(values: WatchedValues, _position: int) -> Plan:
        # No channel: insights do not depend on the time, so nothing to announce.
        return await refresh(values, generation, event_ids, Changes(), now, None)

    try:
        await commit(redis, keyspace, generation, build, prefetch=event_keys(generation, event_ids))
    except GenerationChangedError:
        return []  # the next round works on the new generation
    return event_ids
