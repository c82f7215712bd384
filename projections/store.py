"""One optimistic Redis transaction per update: WATCH what is read, then MULTI … EXEC.

A projector's update and its tracking position are written in the same EXEC, and the position
is read under WATCH: a notification at or below it is never applied again, and if anyone else
(another replica, a rebuild switching the pointer) touches a watched key first, EXEC fails and
the update is decided again from fresh reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from projections.keys import Generation, Keyspace
from projections.state import loads


class GenerationChangedError(Exception):
    """The pointer moved to another generation: follow it from that generation's position."""


class Plan:
    """The writes of one transaction, decided before MULTI and replayed inside it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def call(self, command: str, *args: Any, **kwargs: Any) -> None:
        """Queue a redis-py pipeline call such as call("set", key, value)."""
        self.calls.append((command, args, kwargs))

    def replay(self, pipe: Pipeline) -> None:
        for command, args, kwargs in self.calls:
            getattr(pipe, command)(*args, **kwargs)


Build = Callable[[Pipeline, int], Awaitable[Plan]]


async def read_json(pipe: Pipeline, keys: Sequence[str]) -> list[Any]:
    """Watch keys and read their JSON values (None where missing)."""
    if not keys:
        return []
    await pipe.watch(*keys)
    return [loads(raw) for raw in await pipe.mget(list(keys))]


async def commit(
    redis: Redis,
    keyspace: Keyspace,
    generation: Generation,
    build: Build,
    *,
    log: str | None = None,
    batch_end: int = 0,
    require_current: bool = True,
) -> bool:
    """Run build's plan atomically; with a log, only past its position, which moves to batch_end.

    Returns False when the log's position already covers batch_end (nothing to apply).
    Raises GenerationChangedError when require_current and the pointer names another prefix.
    """
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                return await _attempt(
                    pipe, keyspace, generation, build, log, batch_end, require_current
                )
            except WatchError:
                continue


async def _attempt(
    pipe: Pipeline,
    keyspace: Keyspace,
    generation: Generation,
    build: Build,
    log: str | None,
    batch_end: int,
    require_current: bool,
) -> bool:
    if require_current:
        await pipe.watch(keyspace.pointer)
        if await pipe.get(keyspace.pointer) != generation.prefix.encode():
            raise GenerationChangedError(generation.prefix)
    position = 0
    if log is not None:
        await pipe.watch(generation.position(log))
        position = int(await pipe.get(generation.position(log)) or 0)
        if batch_end <= position:
            return False
    plan = await build(pipe, position)
    pipe.multi()
    plan.replay(pipe)
    if log is not None:
        pipe.set(generation.position(log), batch_end)
    await pipe.execute()
    return True


async def position_of(redis: Redis, generation: Generation, log: str) -> int:
    """The last notification id of log applied to generation (0: none yet)."""
    return int(await redis.get(generation.position(log)) or 0)
