"""One socket write per response: the coalescing transport, and uvicorn serving through it."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from services.common.http_protocol import (
    FLUSH_BYTES,
    CoalescingHttpToolsProtocol,
    CoalescingTransport,
)
from tests.ports import a_free_port


class RecordingTransport(asyncio.Transport):
    """What reached the socket: one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5555)}.get(name, default)


async def test_writes_in_one_turn_of_the_loop_reach_the_socket_as_one_write_in_order():
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"{}"))
    transport.write(b"")
    assert inner.writes == []  # not yet: the turn is not over
    assert transport.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.writelines([b"a", b"b"])
    await asyncio.sleep(0)
    transport.write(b"c")  # a later turn: its own write
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"ab", b"c"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5555)


async def test_close_sends_what_was_gathered_first_and_abort_drops_it():
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"last response")
    transport.close()
    assert (inner.writes, inner.closed) == ([b"last response"], True)
    await asyncio.sleep(0)  # the scheduled flush finds nothing more to send
    assert inner.writes == [b"last response"]

    other = RecordingTransport()
    aborted = CoalescingTransport(other, asyncio.get_running_loop())
    aborted.write(b"never sent")
    aborted.abort()
    await asyncio.sleep(0)
    assert (other.writes, other.aborted) == ([], True)


async def test_a_large_body_goes_out_at_once_without_waiting_for_the_turn():
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"headers\r\n\r\n")
    transport.write(b"x" * FLUSH_BYTES)
    assert inner.writes == [b"headers\r\n\r\n" + b"x" * FLUSH_BYTES]


async def json_answer(_request):
    return JSONResponse({"ok": True}, status_code=201)


async def streamed(_request):
    async def parts():
        for part in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.01)
            yield part

    return StreamingResponse(parts(), media_type="text/plain")


@pytest.fixture
async def server():
    app = Starlette(routes=[Route("/json", json_answer), Route("/stream", streamed)])
    port = a_free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, http=CoalescingHttpToolsProtocol
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        await asyncio.sleep(0.01)
    yield port
    served.should_exit = True
    await task


def exchange(port: int, requests: bytes, answers: int) -> list[bytes]:
    """Send raw requests on one kept-alive connection; each recv as it arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(requests)
        received: list[bytes] = []
        while sum(chunk.count(b"HTTP/1.1 ") for chunk in received) < answers or not (
            received[-1].endswith((b'{"ok":true}', b"0\r\n\r\n"))
        ):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received.append(chunk)
        return received


async def test_uvicorn_answers_whole_responses_on_a_kept_alive_connection(server):
    get = b"GET /json HTTP/1.1\r\nhost: test\r\n\r\n"
    received = await asyncio.to_thread(exchange, server, get, 1)
    assert received[0].startswith(b"HTTP/1.1 201 Created\r\n")
    assert received[0].endswith(b'\r\n\r\n{"ok":true}')
    both = await asyncio.to_thread(exchange, server, get + get, 2)
    assert b"".join(both).count(b"HTTP/1.1 201 Created\r\n") == 2
    streamed_parts = await asyncio.to_thread(
        exchange, server, b"GET /stream HTTP/1.1\r\nhost: test\r\n\r\n", 1
    )
    text = b"".join(streamed_parts)
    assert b"transfer-encoding: chunked" in text
    assert text.endswith(b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n")
    close = b"GET /json HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
    closing = await asyncio.to_thread(exchange, server, close, 1)
    assert b"".join(closing).endswith(b'{"ok":true}')  # sent before the connection closed
