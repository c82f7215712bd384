"""The hottest reads, served before the framework: GET /events/{id} and /events/{id}/tickets.

During a rush every buyer's page polls these two documents. Their answer is a stored JSON
document with its ETag, so this ASGI layer answers them with one Redis round trip and no
routing, validation or dependency resolution. Anything it cannot answer from Redis (a
malformed id, an unknown or non-public event, a generation switched meanwhile) goes on to the
app, whose routes give exactly the same answers and the problem documents.

The current generation's prefix is remembered for a quarter of a second. A rebuild keeps the
old generation readable for its grace period (2 s by default) after switching; if it was
deleted sooner, the read misses and the app answers from the new generation.
"""

from __future__ import annotations

import re
import time
import uuid
from types import SimpleNamespace

from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from projections.keys import Keyspace
from query_api.http import PUBLIC_CACHE, matches

PATH = re.compile(r"^/events/([0-9A-Fa-f-]{32,36})(/tickets)?$")
POINTER_SECONDS = 0.25
ROUTES = {
    False: SimpleNamespace(path="/events/{event_id}"),
    True: SimpleNamespace(path="/events/{event_id}/tickets"),
}


class HotReads:
    """ASGI layer in front of the app for the two public event documents."""

    def __init__(self, app: ASGIApp, redis: Redis, namespace: str) -> None:
        self.app = app
        self.redis = redis
        self.keyspace = Keyspace(namespace)
        self._prefix: bytes | None = None
        self._prefix_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        found = PATH.match(scope["path"])
        answered = found is not None and await self._answer(
            scope, send, found.group(1), bool(found.group(2))
        )
        if not answered:
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, raw_id: str, tickets: bool) -> bool:
        try:
            event_id = str(uuid.UUID(raw_id))
        except ValueError:
            return False
        prefix = await self._current_prefix()
        if prefix is None:
            return False
        kind = "tickets" if tickets else "event"
        key = b"%s:doc:%s:%s" % (prefix, kind.encode(), event_id.encode())
        # execute_command: redis-py wraps hmget in an argument-checking decorator (~4% here).
        body, etag = await self.redis.execute_command("HMGET", key, "json", "etag")
        if body is None or etag is None:
            return False
        scope["route"] = ROUTES[tickets]  # for the access log's and metrics' route label
        if_none_match = dict(scope["headers"]).get(b"if-none-match")
        not_modified = if_none_match is not None and matches(
            if_none_match.decode("latin-1"), etag.decode()
        )
        headers = [
            (b"etag", etag),
            (b"cache-control", PUBLIC_CACHE.encode()),
        ]
        if not_modified:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return True
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        return True

    async def _current_prefix(self) -> bytes | None:
        now = time.monotonic()
        if self._prefix is None or now >= self._prefix_until:
            self._prefix = await self.redis.get(self.keyspace.pointer)
            self._prefix_until = now + POINTER_SECONDS
        return self._prefix
