"""Read models against history: the live Redis generation compared with one replayed now.

The projectors' own code replays both logs into a scratch prefix, up to exactly the positions
the live generation has applied, and every key is then compared. The live keys and positions are
read in one MULTI, so a comparison is never between two different moments; if the live read
models moved on meanwhile, the scratch copy catches up to the new positions and compares again.
The scratch prefix is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from projections.keys import PAYMENTS_LOG, TICKETS_LOG, Generation, Keyspace
from projections.projectors import CatalogueProjector, Projector, SalesProjector
from projections.rebuild import catch_up, delete_generation
from projections.store import position_of
from services.audit.sources import EventSources
from services.audit.verify import Violation

ATTEMPTS = 5
# Keys that are bookkeeping rather than read models: positions, and the sales-window schedule
# (the next boundary after "now", which differs between two renderings at different moments).
SKIPPED_SUFFIXES = ("position:", "windows")
MAX_PATHS = 5


async def compare_read_models(
    sources: EventSources,
    redis: Redis,
    keyspace: Keyspace,
    clock: Callable[[], datetime],
    paid_revenue: Callable[[dict[str, int]], dict[str, dict[str, int]]] | None = None,
) -> tuple[str, list[Violation]]:
    """('checked …' or why not, violations) for the current generation under keyspace."""
    live = await keyspace.current(redis)
    if live is None:
        return "not checked: no read models have been written yet", []
    scratch = Generation(f"{keyspace.root}:verify:{uuid.uuid4().hex}")
    options: dict[str, Any] = {"clock": clock, "publish": False}
    projectors: dict[str, Projector] = {
        TICKETS_LOG: CatalogueProjector(sources.tickets, redis, keyspace, **options),
        PAYMENTS_LOG: SalesProjector(sources.orders, redis, keyspace, **options),
    }
    try:
        for _ in range(ATTEMPTS):
            positions = {log: await position_of(redis, live, log) for log in projectors}
            for log, projector in projectors.items():
                await catch_up(projector, scratch, require_current=False, stop=positions[log])
            snapshot = await read_generation(redis, live, projectors)
            if snapshot["positions"] == positions:
                break
        else:
            return "not checked: the read models kept moving during every attempt", []
        expected = await read_generation(redis, scratch, projectors)
        violations = diff_generations(live, expected["values"], snapshot["values"])
        if paid_revenue is not None:
            paid = await asyncio.to_thread(paid_revenue, positions)
            violations += check_revenue(live, snapshot["values"], paid)
        at = ", ".join(f"{log} {position}" for log, position in positions.items())
        return f"checked {len(snapshot['values'])} keys at positions {at}", violations
    finally:
        await delete_generation(redis, scratch)


async def read_generation(
    redis: Redis, generation: Generation, projectors: dict[str, Projector]
) -> dict[str, Any]:
    """Every key of generation (by suffix, decoded by type) and its positions, read at once."""
    prefix = f"{generation.prefix}:"
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    kinds: dict[bytes, bytes] = {}
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
        for key, kind in zip(keys, await pipe.execute(), strict=True):
            kinds[key] = kind if isinstance(kind, bytes) else str(kind).encode()
    async with redis.pipeline(transaction=True) as pipe:
        for log in projectors:
            pipe.get(generation.position(log))
        for key in keys:
            read_by_kind(pipe, key, kinds[key])
        answers = await pipe.execute()
    positions = {log: int(answers[i] or 0) for i, log in enumerate(projectors)}
    values: dict[str, Any] = {}
    for key, value in zip(keys, answers[len(projectors) :], strict=True):
        suffix = key.decode()[len(prefix) :]
        if not suffix.startswith(SKIPPED_SUFFIXES):
            values[suffix] = normalise(kinds[key], value)
    return {"positions": positions, "values": values}


def read_by_kind(pipe: Any, key: bytes, kind: bytes) -> None:
    if kind == b"hash":
        pipe.hgetall(key)
    elif kind == b"zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == b"set":
        pipe.smembers(key)
    elif kind == b"list":
        pipe.lrange(key, 0, -1)
    else:
        pipe.get(key)


def normalise(kind: bytes, value: Any) -> Any:
    """A comparable form: JSON decoded where it is JSON, members sorted."""
    if kind == b"hash":
        return {k.decode(): decode(v) for k, v in sorted(value.items())}
    if kind == b"zset":
        return [(member.decode(), score) for member, score in value]
    if kind == b"set":
        return sorted(member.decode() for member in value)
    if kind == b"list":
        return [decode(item) for item in value]
    return decode(value)


def decode(raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def diff_generations(
    live: Generation, expected: dict[str, Any], actual: dict[str, Any]
) -> list[Violation]:
    """One violation per read model that is missing, extra or different, naming what drifted."""
    violations = []
    for suffix in sorted(set(expected) | set(actual)):
        key = f"{live.prefix}:{suffix}"
        if suffix not in actual:
            violations.append(Violation("read_model", "missing from Redis", key=key))
        elif suffix not in expected:
            violations.append(Violation("read_model", "in Redis but not in history", key=key))
        elif expected[suffix] != actual[suffix]:
            paths = differences(expected[suffix], actual[suffix])
            shown = "; ".join(
                f"{path or 'value'} is {found!r} in Redis, {want!r} replayed"
                for path, want, found in paths[:MAX_PATHS]
            )
            violations.append(Violation("read_model", f"differs: {shown}", key=key))
    return violations


def differences(want: Any, found: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The paths at which two JSON values differ, with both values."""
    if isinstance(want, dict) and isinstance(found, dict):
        out = []
        for name in sorted(set(want) | set(found), key=str):
            out += differences(want.get(name), found.get(name), f"{path}.{name}".lstrip("."))
        return out
    if isinstance(want, list) and isinstance(found, list) and len(want) == len(found):
        out = []
        for index, (a, b) in enumerate(zip(want, found, strict=True)):
            out += differences(a, b, f"{path}[{index}]")
        return out
    return [] if want == found else [(path, want, found)]


def check_revenue(
    live: Generation, values: dict[str, Any], paid: dict[str, dict[str, int]]
) -> list[Violation]:
    """Each event's insights revenue against the sum of its paid orders' totals."""
    violations = []
    for suffix, value in values.items():
        if not suffix.startswith("doc:insights:") or not isinstance(value, dict):
            continue
        event_id = suffix.removeprefix("doc:insights:")
        document = value.get("json") or {}
        shown = {
            code: minor_units(amount)
            for code, amount in (document.get("revenue_by_currency") or {}).items()
        }
        shown = {code: minor for code, minor in shown.items() if minor}
        expected = {code: minor for code, minor in paid.get(event_id, {}).items() if minor}
        if shown != expected:
            violations.append(
                Violation(
                    "revenue",
                    f"insights show revenue {shown} (minor units) for event {event_id}; "
                    f"its paid orders sum to {expected}",
                    aggregate_id=event_id,
                    key=f"{live.prefix}:{suffix}",
                )
            )
    return violations


def minor_units(amount: Any) -> int:
    """'25.00' → 2500; anything unreadable counts as -1 so that it never matches."""
    try:
        major, _, cents = str(amount).partition(".")
        return int(major) * 100 + int(cents or 0)
    except ValueError:
        return -1
