"""Reading the read models through the generation pointer, as stored bytes.

A reader resolves the pointer, then reads under that prefix. If a rebuild switches the pointer
in between and something is missing, the read is tried again under the new prefix (and the
rebuild keeps the old prefix for a grace period), so a switch never shows up as a 404.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson
from redis.asyncio import Redis

from projections.insights import EMPTY_TOTALS
from projections.keys import Generation, Keyspace, event_id_of

T = TypeVar("T")
DocumentKind = Literal["event", "tickets", "admin", "insights"]
SCAN_CHUNK = 200
ATTEMPTS = 3
_MEMBER = re.compile(rb"^[0-9]{8}T[0-9]{12}\|[0-9a-f-]{36}$")


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str
    owner: str


@dataclass(frozen=True)
class Page:
    items: list[bytes]
    next_member: bytes | None

    def body(self) -> bytes:
        """`{"items": [...], "next_cursor": ...}` joined from the stored item bytes."""
        cursor = encode_cursor(self.next_member) if self.next_member is not None else None
        return (
            b'{"items":['
            + b",".join(self.items)
            + b'],"next_cursor":'
            + orjson.dumps(cursor)
            + b"}"
        )


def encode_cursor(member: bytes) -> str:
    return base64.urlsafe_b64encode(member).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> bytes | None:
    """The listing member a cursor stands for, or None if it is not one of ours."""
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        return None
    return member if _MEMBER.fullmatch(member) else None


class ReadModels:
    """The query side's only door to Redis."""

    def __init__(self, redis: Redis, keyspace: Keyspace) -> None:
        self.redis = redis
        self.keyspace = keyspace

    async def _consistent(
        self, read: Callable[[Generation], Awaitable[tuple[T, bool]]], empty: T
    ) -> T:
        """read(generation) → (value, complete); retried when incomplete across a switch."""
        value = empty
        for _ in range(ATTEMPTS):
            generation = await self.keyspace.current(self.redis)
            if generation is None:
                return empty
            value, complete = await read(generation)
            if complete or await self.keyspace.current(self.redis) == generation:
                return value
        return value

    async def document(self, kind: DocumentKind, event_id: str) -> Document | None:
        """One stored document with its ETag and owner."""

        async def read(g: Generation) -> tuple[Document | None, bool]:
            key = getattr(g, f"{kind}_doc")(event_id)
            body, etag, owner = await self.redis.hmget(key, ["json", "etag", "owner"])
            if body is None:
                return None, False
            return Document(body, etag.decode(), owner.decode()), True

        return await self._consistent(read, None)

    async def page(
        self,
        index: Callable[[Generation], str],
        item: Literal["summary", "admin"],
        *,
        start: bytes,
        end: bytes,
        limit: int,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Page:
        """Up to limit items of a listing index between start and end (ZRANGEBYLEX bounds)."""

        async def read(g: Generation) -> tuple[Page, bool]:
            members = await self._members(g, index(g), start, end, limit + 1, keep)
            shown = members[:limit]
            items = await self._items(g, [event_id_of(m) for m in shown], item)
            found = [body for body in items if body is not None]
            next_member = shown[-1] if len(members) > limit else None
            # An empty page may be a generation deleted under us: make _consistent look again.
            return Page(found, next_member), bool(found) and len(found) == len(shown)

        return await self._consistent(read, Page([], None))

    async def _members(
        self,
        g: Generation,
        index: str,
        start: bytes,
        end: bytes,
        wanted: int,
        keep: Callable[[dict[str, Any]], bool] | None,
    ) -> list[bytes]:
        if keep is None:
            return list(await self.redis.zrangebylex(index, start, end, start=0, num=wanted))
        kept: list[bytes] = []
        while len(kept) < wanted:
            chunk = await self.redis.zrangebylex(index, start, end, start=0, num=SCAN_CHUNK)
            if not chunk:
                break
            facts = await self.redis.hmget(g.facts, [event_id_of(m) for m in chunk])
            kept += [m for m, f in zip(chunk, facts, strict=True) if f and keep(orjson.loads(f))]
            if len(chunk) < SCAN_CHUNK:
                break
            start = b"(" + chunk[-1]
        return kept[:wanted]

    async def _items(
        self, g: Generation, event_ids: list[str], item: Literal["summary", "admin"]
    ) -> list[bytes | None]:
        if not event_ids:
            return []
        if item == "summary":
            return list(await self.redis.mget([g.summary(i) for i in event_ids]))
        return await self._hash_bodies([g.admin_doc(i) for i in event_ids])

    async def _hash_bodies(self, keys: list[str]) -> list[bytes | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "json")
            return list(await pipe.execute())

    async def insights_overview(self, scope: str) -> bytes:
        """`{"events": [...], "totals": {...}}` for a scope, joined from stored documents."""

        async def read(g: Generation) -> tuple[bytes, bool]:
            members = await self.redis.zrange(g.owned(scope), 0, -1)
            bodies = await self._hash_bodies([g.insights_doc(event_id_of(m)) for m in members])
            totals = await self.redis.get(g.totals_doc(scope))
            found = [body for body in bodies if body is not None]
            body = (
                b'{"events":[' + b",".join(found) + b'],"totals":' + (totals or EMPTY_TOTALS) + b"}"
            )
            return body, bool(found) and len(found) == len(bodies) and totals is not None

        return await self._consistent(read, b'{"events":[],"totals":' + EMPTY_TOTALS + b"}")
