"""A lean HTTP/1.1 client: kept-alive connections to one origin, for a service's hot calls.

The payments service opens a payment at the provider for every order, so in a rush this is
one HTTP request per order on the payments service's event loop. aiohttp spent about 70 µs of
CPU on each (its session, connector, timer, tracing and response objects); this spends about
20 µs (bench/http_client.py): it writes the request in one call and parses the answer with
httptools (llhttp, the parser uvicorn uses), nothing more.

What it does: plain `http://` origins; requests with a body and Content-Length; answers with
Content-Length, chunked or read-to-close bodies; up to `limit` connections, callers beyond
that wait for one; idle connections reused for `keepalive` seconds (shorter than the server's
own keep-alive, so that a connection the server is about to close is not picked); one
`timeout` for the whole call, connecting included. A connection is reused only after a
complete answer that allows it: one that failed, timed out or was cancelled mid-call is closed.

Errors: `ConnectionError` (refused, reset, or closed by the server: `ServerDisconnectedError`
says whether it closed before answering, in which case a request that is safe to repeat can
be sent again), `TimeoutError`, and `InvalidResponseError` for an answer that is not HTTP.
"""

from __future__ import annotations

import asyncio
import collections
import time
from urllib.parse import urlsplit

import httptools

__all__ = ["Http1Pool", "InvalidResponseError", "ServerDisconnectedError"]


class ServerDisconnectedError(ConnectionError):
    """The server closed the connection before the answer was complete."""

    def __init__(self, answered: bool) -> None:
        super().__init__(
            "the server closed the connection "
            + ("in the middle of its answer" if answered else "before answering")
        )
        self.answered = answered


class InvalidResponseError(ConnectionError):
    """The server's answer is not HTTP/1.1 this client can read."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection: at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.answered = False  # bytes of the current answer have arrived
        self.framed = False  # the current answer says where its body ends
        self.headers_done = False
        self.keep_alive = True
        self.closed = False
        self.idle_since = 0.0

    def start(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        assert self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.body, self.answered, self.framed, self.headers_done = [], False, False, False
        self.transport.write(request)
        return self.waiter

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing was asked: the connection cannot be trusted again
            self._close()
            return
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(InvalidResponseError(f"the server's answer is not HTTP/1.1: {error}"))
            self._close()

    def connection_lost(self, _exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and self.headers_done and not self.framed:
            self.on_message_complete()  # a body without a length ends where the connection does
            return
        self._fail(ServerDisconnectedError(self.answered))

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.parser.get_status_code() in (204, 304):
            self.framed = True  # never a body

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        self.keep_alive = self.parser.should_keep_alive() and not self.closed
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    # -- --------------------------------------------------------------------------------------

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        self.keep_alive = False
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _close(self) -> None:
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()


class Http1Pool:
    """Requests to one `http://host:port[/prefix]` origin over up to `limit` connections."""

    def __init__(
        self, base_url: str, *, limit: int = 32, keepalive: float = 2.0, timeout: float = 10.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an http:// origin is needed, not {base_url!r}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/").encode()
        self.host_header = parts.netloc.encode("idna")
        self.limit = limit
        self.keepalive = keepalive
        self.timeout = timeout
        self._idle: collections.deque[_Connection] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._open = 0  # connections open or being opened
        self._closed = False

    async def request(
        self, method: str, path: str, body: bytes | None = None, content_type: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request; its status and body. `path` is absolute and already quoted."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        head = b"%s %s%s HTTP/1.1\r\nHost: %s\r\n" % (
            method.encode("ascii"),
            self.prefix,
            path.encode("ascii"),
            self.host_header,
        )
        if body is not None:
            if content_type:
                head += b"Content-Type: %s\r\n" % content_type
            request = head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        else:
            request = head + b"\r\n"
        connection: _Connection | None = None
        completed = False
        try:
            async with asyncio.timeout(self.timeout):
                connection = await self._acquire()
                answer = await connection.start(request)
            completed = True
            return answer
        finally:
            if connection is not None:
                self._release(connection, completed)

    async def aclose(self) -> None:
        """Close the idle connections; the pool takes no more requests."""
        self._closed = True
        while self._idle:
            self._discard(self._idle.pop())
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(RuntimeError("the pool is closed"))
        self._waiters.clear()

    async def _acquire(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely closed
            if not connection.closed and now - connection.idle_since < self.keepalive:
                return connection
            self._discard(connection)
        if self._open < self.limit:
            self._open += 1
            return await self._connect()
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # woken just as the caller gave up
                given = waiter.result()
                if given is None:
                    self._open -= 1
                    self._wake_one(None)
                else:
                    self._release(given, True)
            raise
        # A connection, or a place to open one (one was closed instead of handed over).
        return handed if handed is not None else await self._connect()

    async def _connect(self) -> _Connection:
        """Open a connection in a place already counted in `_open`."""
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port
            )
        except BaseException:
            self._open -= 1
            self._wake_one(None)
            raise
        return connection

    def _release(self, connection: _Connection, completed: bool) -> None:
        if self._closed or not (completed and connection.keep_alive and not connection.closed):
            self._discard(connection)
            self._wake_one(None)  # the freed place lets a waiter open a connection of its own
            return
        connection.idle_since = time.monotonic()
        if not self._wake_one(connection):
            self._idle.append(connection)

    def _wake_one(self, connection: _Connection | None) -> bool:
        """Hand a connection, or (None) a place to open one, to the longest waiting caller."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                if connection is None:
                    self._open += 1  # the place is the waiter's from now
                waiter.set_result(connection)
                return True
        return False

    def _discard(self, connection: _Connection) -> None:
        self._open -= 1
        connection._close()
