"""uvicorn with `OneWriteHttpToolsProtocol`: one send per answer, and every answer still whole.

A real uvicorn server on loopback, spoken to over a raw socket; the server's transport is
wrapped to count what reaches the socket. uvicorn's own protocol is the baseline: two sends.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.common.http_server import OneWriteHttpToolsProtocol
from tests.integration.uvicorn_helpers import serving_in_thread

SENDS: list[bytes] = []  # what the server's transports sent, in order (one server at a time)
STREAM_PAUSE = 0.3


class CountingTransport:
    """The socket's transport, recording each write."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        SENDS.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountedOneWrite(OneWriteHttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CountingTransport(transport))  # type: ignore[arg-type]


class CountedUvicorn(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(CountingTransport(transport))  # type: ignore[arg-type]


async def order(_request: Request) -> Response:
    return JSONResponse({"id": "0b7c", "status": "pending"}, status_code=201)


async def events(_request: Request) -> Response:
    async def stream() -> AsyncIterator[bytes]:
        await asyncio.sleep(STREAM_PAUSE)
        yield b"event: insights\ndata: {}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def not_modified(_request: Request) -> Response:
    return Response(status_code=304, headers={"etag": '"v1"'})


APP = Starlette(
    routes=[
        Route("/orders", order, methods=["POST", "GET", "HEAD"]),
        Route("/stream", events),
        Route("/cached", not_modified),
    ]
)


@contextmanager
def serving(protocol: type[asyncio.Protocol]) -> Iterator[int]:
    """APP under uvicorn with this HTTP protocol on a free port; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(APP, http=protocol, log_level="warning", lifespan="off")
    with serving_in_thread(config, sock, "uvicorn"):
        SENDS.clear()
        yield sock.getsockname()[1]


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response with a content-length (or none, for 304/HEAD): its head and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await asyncio.wait_for(reader.readexactly(length), 5) if length else b""


def post(path: str = "/orders", *, method: bytes = b"POST") -> bytes:
    return method + b" " + path.encode() + b" HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\n\r\n"


async def test_an_answer_is_one_send_where_uvicorn_makes_two() -> None:
    for protocol, sends in ((CountedOneWrite, 1), (CountedUvicorn, 2)):
        with serving(protocol) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(3):  # kept alive: each answer alike
                SENDS.clear()
                writer.write(post())
                head, body = await read_answer(reader)
                assert head.startswith(b"HTTP/1.1 201 Created\r\n")
                assert body == b'{"id":"0b7c","status":"pending"}'
                assert len(SENDS) == sends, protocol
                assert b"".join(SENDS) == head + body
            writer.close()


async def test_pipelined_requests_are_answered_whole_and_in_order() -> None:
    with serving(CountedOneWrite) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post() + post(method=b"GET") + post(method=b"HEAD"))
        first, second = await read_answer(reader), await read_answer(reader)
        for head, body in (first, second):
            assert head.startswith(b"HTTP/1.1 201")
            assert body == b'{"id":"0b7c","status":"pending"}'
        third = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # HEAD: no body
        assert third.startswith(b"HTTP/1.1 201")
        assert b"content-length: 32" in third.lower()
        writer.write(post())  # the connection is still good after a head-only answer
        assert (await read_answer(reader))[1].startswith(b'{"id"')
        writer.close()


async def test_a_head_only_answer_is_not_held_back() -> None:
    with serving(CountedOneWrite) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /cached HTTP/1.1\r\nhost: test\r\n\r\n")
        head, body = await read_answer(reader)
        assert head.startswith(b"HTTP/1.1 304 Not Modified\r\n")
        assert body == b""
        writer.close()


async def test_a_stream_sends_its_head_before_its_first_event() -> None:
    with serving(CountedOneWrite) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /stream HTTP/1.1\r\nhost: test\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert time.monotonic() - started < STREAM_PAUSE, "the head waited for the first event"
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        chunk = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"event: insights" in chunk
        writer.close()


async def test_connection_close_still_gets_the_whole_answer() -> None:
    with serving(CountedOneWrite) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /orders HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        )
        everything = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        assert everything.startswith(b"HTTP/1.1 201 Created\r\n")
        assert everything.endswith(b'{"id":"0b7c","status":"pending"}')
        writer.close()


@pytest.mark.parametrize("request_line", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"])
async def test_a_malformed_request_gets_its_400_whole(request_line: bytes) -> None:
    with serving(CountedOneWrite) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_line)
        everything = await asyncio.wait_for(reader.read(), 5)
        assert everything.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        writer.close()
