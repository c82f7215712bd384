"""The hottest reads, served before the framework: GET /events/{id} and /events/{id}/tickets,
and GET /events' public pages from memory.

During a rush every buyer's page polls these two documents. Their answer is a stored JSON
document with its ETag, so this ASGI layer answers them with one Redis round trip and no
routing, validation or dependency resolution. Anything it cannot answer from Redis (a
malformed id, an unknown or non-public event, a generation switched meanwhile) goes on to the
app, whose routes give exactly the same answers and the problem documents.

A document read from Redis is served from this process's memory for the next tenth of a
second (DOCUMENT_SECONDS): in a rush thousands of buyers a second poll the same few documents,
and one Redis read per document per tenth of a second serves them all. What a buyer sees is
then at most that much older than the read model, itself tens of milliseconds behind the
event store (bench/projection_lag.py). Concurrent readers of a document that is not in memory
wait for one Redis read. Documents that are not there (unknown ids) are never remembered.

GET /events (the listing) is the app's to answer, but an anonymous request's 200 answer is
kept for DOCUMENT_SECONDS too, under its exact query string, and given to the same request
meanwhile (304 if its If-None-Match matches). The answers say `Cache-Control: public,
max-age=1`: any cache between the gateway and the buyer may keep them ten times as long. A
request with an Authorization header always goes to the app (an admin's listing of other
statuses is private; a bad token is refused there).

The current generation's prefix is remembered for a quarter of a second. A rebuild keeps the
old generation readable for its grace period (2 s by default) after switching; if it was
deleted sooner, the read misses and the app answers from the new generation.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from types import SimpleNamespace

from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.keys import Keyspace
from query_api.http import PUBLIC_CACHE, matches

PATH = re.compile(r"^/events/([0-9A-Fa-f-]{32,36})(/tickets)?$")
POINTER_SECONDS = 0.25
DOCUMENT_SECONDS = 0.1
MAX_DOCUMENTS = 10_000  # remembered documents; beyond that, all are forgotten at once
MAX_PAGES = 256  # remembered listing answers (any query string makes one: kept few and small)
MAX_PAGE_BYTES = 256 * 1024
LISTING = SimpleNamespace(path="/events")
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
        # key -> (read before this monotonic time + DOCUMENT_SECONDS, body, etag)
        self._documents: dict[bytes, tuple[float, bytes, bytes]] = {}
        self._reading: dict[bytes, asyncio.Future[tuple[bytes, bytes] | None]] = {}
        # query string -> (answered before this monotonic time + DOCUMENT_SECONDS, answer)
        self._pages: dict[bytes, tuple[float, Message, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/events":
            await self._listing(scope, receive, send)
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
        document = await self._document(key)
        if document is None:
            return False
        body, etag = document
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

    async def _listing(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's answer to this anonymous listing request, or the one it gave just now."""
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            await self.app(scope, receive, send)
            return
        key = scope["query_string"]
        remembered = self._pages.get(key)
        started = time.monotonic()
        if remembered is not None and started < remembered[0]:
            _, start, body = remembered
            scope["route"] = LISTING
            if_none_match = headers.get(b"if-none-match")
            sent = dict(start["headers"]) if if_none_match is not None else {}
            if if_none_match is not None and matches(
                if_none_match.decode("latin-1"), sent[b"etag"].decode("latin-1")
            ):
                kept = [(b"etag", sent[b"etag"]), (b"cache-control", sent[b"cache-control"])]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)
            await send(message)

        await self.app(scope, receive, keep)
        if (
            len(answer) == 2
            and answer[0]["type"] == "http.response.start"
            and answer[0]["status"] == 200
            and answer[1]["type"] == "http.response.body"
            and not answer[1].get("more_body")
            and len(answer[1].get("body", b"")) <= MAX_PAGE_BYTES
        ):
            sent = dict(answer[0].get("headers") or ())
            if b"etag" in sent and sent.get(b"cache-control", b"").startswith(b"public"):
                if len(self._pages) >= MAX_PAGES:
                    self._pages.clear()
                start = {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": list(answer[0]["headers"]),
                }
                self._pages[key] = (started + DOCUMENT_SECONDS, start, answer[1]["body"])

    async def _document(self, key: bytes) -> tuple[bytes, bytes] | None:
        """The stored document and its ETag, from memory while fresh, else from Redis."""
        remembered = self._documents.get(key)
        if remembered is not None and time.monotonic() < remembered[0]:
            return remembered[1], remembered[2]
        reading = self._reading.get(key)
        if reading is None:
            # A task of its own: a reader that gives up (the client went away) must not
            # cancel the read the others wait for.
            reading = self._reading[key] = asyncio.ensure_future(self._read(key))
        return await asyncio.shield(reading)

    async def _read(self, key: bytes) -> tuple[bytes, bytes] | None:
        started = time.monotonic()
        try:
            # execute_command: redis-py wraps hmget in an argument-checking decorator.
            body, etag = await self.redis.execute_command("HMGET", key, "json", "etag")
        finally:
            del self._reading[key]
        if body is None or etag is None:
            return None
        if len(self._documents) >= MAX_DOCUMENTS:
            self._documents.clear()
        self._documents[key] = (started + DOCUMENT_SECONDS, body, etag)
        return body, etag

    async def _current_prefix(self) -> bytes | None:
        now = time.monotonic()
        if self._prefix is None or now >= self._prefix_until:
            self._prefix = await self.redis.get(self.keyspace.pointer)
            self._prefix_until = now + POINTER_SECONDS
        return self._prefix
