"""services/common/http1.py against real sockets: a small HTTP/1.1 server on loopback whose
behaviour each test chooses (how it frames answers, when it closes, stalls or misbehaves)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from services.common.http1 import Http1Pool, InvalidResponseError, ServerDisconnectedError


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]  # False: close after


async def with_length(request: Request, writer: asyncio.StreamWriter, status: int = 200) -> bool:
    body = f"{request.method} {request.target} {request.body.decode()}".encode()
    writer.write(b"HTTP/1.1 %d OK\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
    return True


@dataclass
class Server:
    answer: Answer = with_length
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *fields = head.decode("latin-1").split("\r\n")[:-2]
                method, target, _ = line.split(" ")
                headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, target, headers, body)
                self.requests.append(request)
                keep = await self.answer(request, writer)
                await writer.drain()
                if not keep:
                    return
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def serving(answer: Answer = with_length) -> AsyncIterator[Server]:
    server = Server(answer)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


async def test_requests_go_out_as_written_and_share_one_kept_alive_connection():
    async with serving() as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}/api/")
        for number in range(5):
            status, body = await pool.request(
                "POST", f"/items/{number}", b'{"n": %d}' % number, b"application/json"
            )
            assert (status, body) == (200, b'POST /api/items/%d {"n": %d}' % (number, number))
        assert await pool.request("GET", "/items") == (200, b"GET /api/items ")
        await pool.aclose()
    assert server.connections == 1
    posted = server.requests[0]
    assert posted.headers["host"] == f"127.0.0.1:{server.port}"
    assert posted.headers["content-type"] == "application/json"
    assert posted.headers["content-length"] == str(len(b'{"n": 0}'))
    assert "content-length" not in server.requests[-1].headers  # a GET without a body


async def test_chunked_and_read_to_close_answers_are_read_whole():
    async def chunked(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"first ", b"second ", b"third"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    async def to_close(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it, then the end")
        return False

    async with serving(chunked) as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}")
        assert await pool.request("GET", "/") == (201, b"first second third")
        assert await pool.request("GET", "/") == (201, b"first second third")
        assert server.connections == 1
        server.answer = to_close
        for made in (1, 2, 3):  # the first on the chunked answers' connection, then one each
            assert await pool.request("GET", "/") == (200, b"all of it, then the end")
            assert server.connections == made  # a connection the server closed is not reused
        await pool.aclose()


async def test_no_more_than_limit_connections_are_open_and_every_caller_is_answered():
    async def slowly(request: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.005)
        return await with_length(request, writer)

    async with serving(slowly) as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}", limit=4)
        answers = await asyncio.gather(*(pool.request("GET", f"/{n}") for n in range(60)))
        assert [body for _, body in answers] == [b"GET /%d " % n for n in range(60)]
        assert server.most_open == 4
        assert server.connections == 4
        await pool.aclose()


async def test_a_waiting_caller_gets_a_fresh_connection_when_the_busy_one_fails():
    async def close_the_first(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.target == "/first":
            await asyncio.sleep(0.02)
            return False  # closes without answering
        return await with_length(request, writer)

    async with serving(close_the_first) as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}", limit=1)
        first = asyncio.create_task(pool.request("GET", "/first"))
        await asyncio.sleep(0.005)
        second = asyncio.create_task(pool.request("GET", "/second"))
        with pytest.raises(ServerDisconnectedError) as closed:
            await first
        assert closed.value.answered is False
        assert await second == (200, b"GET /second ")
        assert server.most_open == 1
        await pool.aclose()


async def test_a_timed_out_or_cancelled_call_never_leaves_its_answer_to_the_next_call():
    async def late_for_slow(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.target.startswith("/slow"):
            await asyncio.sleep(0.3)
        return await with_length(request, writer)

    async with serving(late_for_slow) as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}", limit=1, timeout=0.1)
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/slow-1")
        assert await pool.request("GET", "/fast-1") == (200, b"GET /fast-1 ")
        cancelled = asyncio.create_task(pool.request("GET", "/slow-2"))
        await asyncio.sleep(0.02)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await pool.request("GET", "/fast-2") == (200, b"GET /fast-2 ")
        assert server.connections == 3  # each abandoned call's connection was closed
        await pool.aclose()


async def test_the_server_vanishing_or_speaking_something_else_is_a_connection_error():
    async def garbage(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        return True

    async def half(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nnot a hundred bytes")
        return False

    async with serving(garbage) as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}")
        with pytest.raises(InvalidResponseError):
            await pool.request("GET", "/")
        server.answer = half
        with pytest.raises(ServerDisconnectedError) as cut:
            await pool.request("GET", "/")
        assert cut.value.answered is True
        server.answer = with_length
        assert await pool.request("GET", "/again") == (200, b"GET /again ")
        await pool.aclose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = sock.getsockname()[1]
    pool = Http1Pool(f"http://127.0.0.1:{nobody}")
    with pytest.raises(ConnectionRefusedError):
        await pool.request("GET", "/")
    with pytest.raises(ConnectionRefusedError):  # the failed connect gave its place back
        await pool.request("GET", "/")
    assert pool._open == 0


async def test_idle_connections_older_than_keepalive_are_not_reused():
    async with serving() as server:
        pool = Http1Pool(f"http://127.0.0.1:{server.port}", keepalive=0.05)
        await pool.request("GET", "/1")
        await pool.request("GET", "/2")
        assert server.connections == 1
        await asyncio.sleep(0.1)
        await pool.request("GET", "/3")
        assert server.connections == 2
        await pool.aclose()


def test_only_plain_http_origins_are_accepted():
    for url in ("https://example.org", "ftp://example.org", "example.org", "http://"):
        with pytest.raises(ValueError, match="an http:// origin is needed"):
            Http1Pool(url)
