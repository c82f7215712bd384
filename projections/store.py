"""One optimistic Redis transaction per update: WATCH what is read, then MULTI … EXEC.

A projector's update and its tracking position are written in the same EXEC, and the position
is read under WATCH: a notification at or below it is never applied again, and if anyone else
(another replica, a rebuild switching the pointer) touches a watched key first, EXEC fails and
the update is decided again from fresh reads.

Each read sends its WATCH and its MGET in one write (redis-py sends a WATCH alone and waits for
it), and the pointer, the position and whatever the caller knows it will need are read together:
an update is three round trips (guards and event state, the state that depends on it, EXEC).
In a rush each round trip's socket write was the projections' largest cost.
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
    """The writes of one transaction, decided before MULTI and replayed inside it.

    Plain string values are written by one MSET after the other writes (a key the plan deletes
    afterwards is taken out of it): each command in a transaction costs a round of packing
    and parsing, and a batch sets some ten strings.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.strings: dict[str, bytes | str | int] = {}

    def call(self, command: str, *args: Any, **kwargs: Any) -> None:
        """Queue a redis-py pipeline call such as call("hset", key, mapping=fields)."""
        if command == "delete":
            for key in args:
                self.strings.pop(key, None)
        self.calls.append((command, args, kwargs))

    def set(self, key: str, value: bytes | str | int) -> None:
        """Queue SET key value (in the plan's one MSET)."""
        self.strings[key] = value

    def replay(self, pipe: Pipeline) -> None:
        for command, args, kwargs in self.calls:
            getattr(pipe, command)(*args, **kwargs)
        if self.strings:
            pipe.mset(self.strings)


async def watch_and_get(pipe: Pipeline, keys: Sequence[str]) -> list[bytes | None]:
    """WATCH keys and MGET them in one write: one round trip."""
    if pipe.connection is None:
        pipe.connection = await pipe.connection_pool.get_connection()
    connection = pipe.connection
    packed = connection.pack_commands([("WATCH", *keys), ("MGET", *keys)])

    async def send() -> list[bytes | None]:
        await connection.send_packed_command(packed)
        await pipe.parse_response(connection, "WATCH")  # marks the pipeline as watching
        return list(await pipe.parse_response(connection, "MGET"))

    async def drop(error: Exception) -> None:
        # As redis-py does for a lone WATCH: a connection that died has lost what it watched,
        # so the update must be decided again; before anything was watched, just retry.
        await connection.disconnect()
        if pipe.watching:
            await pipe.reset()
            raise WatchError(f"{type(error).__name__} while watching keys") from error

    return await connection.retry.call_with_retry(send, drop)


class WatchedValues:
    """What one transaction has read, every key watched before it was read, and read once."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.raw: dict[str, bytes | None] = {}

    async def read(self, keys: Sequence[str]) -> list[bytes | None]:
        """The keys' values; those not read yet are watched and read in one round trip."""
        missing = [key for key in dict.fromkeys(keys) if key not in self.raw]
        if missing:
            self.raw.update(zip(missing, await watch_and_get(self.pipe, missing), strict=True))
        return [self.raw[key] for key in keys]

    async def json(self, keys: Sequence[str]) -> list[Any]:
        """The keys' JSON values (None where missing)."""
        return [loads(raw) for raw in await self.read(keys)]


Build = Callable[[WatchedValues, int], Awaitable[Plan]]


async def commit(
    redis: Redis,
    keyspace: Keyspace,
    generation: Generation,
    build: Build,
    *,
    log: str | None = None,
    batch_end: int = 0,
    require_current: bool = True,
    prefetch: Sequence[str] = (),
) -> bool:
    """Run build's plan atomically; with a log, only past its position, which moves to batch_end.

    prefetch names keys build will read: they are watched and read with the pointer and the
    position, in the same round trip. Returns False when the log's position already covers
    batch_end (nothing to apply). Raises GenerationChangedError when require_current and the
    pointer names another prefix.
    """
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                return await _attempt(
                    pipe, keyspace, generation, build, log, batch_end, require_current, prefetch
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
    prefetch: Sequence[str],
) -> bool:
    values = WatchedValues(pipe)
    pointer = [keyspace.pointer] if require_current else []
    position_key = [generation.position(log)] if log is not None else []
    guards = await values.read([*pointer, *position_key, *prefetch])
    if require_current and guards[0] != generation.prefix.encode():
        raise GenerationChangedError(generation.prefix)
    position = 0
    if log is not None:
        position = int(guards[len(pointer)] or 0)
        if batch_end <= position:
            return False
    plan = await build(values, position)
    if log is not None:
        plan.set(generation.position(log), batch_end)
    pipe.multi()
    plan.replay(pipe)
    await pipe.execute()
    return True


async def position_of(redis: Redis, generation: Generation, log: str) -> int:
    """The last notification id of log applied to generation (0: none yet)."""
    return int(await redis.get(generation.position(log)) or 0)
