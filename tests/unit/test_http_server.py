"""The transport that sends a response head with its body: what reaches the socket, and when."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.http_server import MAX_JOINED_BODY, HeadHoldingTransport, is_response_head

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    """Stands in for the socket's transport: records each write, and whether it is closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.closed_after: int | None = None  # how many writes had happened at close()

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.writes.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        self.closed_after = len(self.writes)
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000)}.get(name, default)


async def next_turn() -> None:
    """Let the loop run the callbacks scheduled so far."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_a_head_and_its_body_go_out_in_one_write() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    assert socket.writes == []
    transport.write(b"{}")
    assert socket.writes == [HEAD + b"{}"]
    await next_turn()
    assert socket.writes == [HEAD + b"{}"], "nothing more is sent at the next turn"


async def test_a_head_nothing_follows_goes_out_at_the_next_turn() -> None:
    # A HEAD request, a 304, or a stream waiting for its first event.
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    assert socket.writes == []
    await next_turn()
    assert socket.writes == [HEAD]
    transport.write(b"data: 1\n\n")  # the stream's first event, later
    assert socket.writes == [HEAD, b"data: 1\n\n"]


async def test_close_sends_a_held_head_first() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.close()
    assert socket.writes == [HEAD]
    assert socket.closed_after == 1
    await next_turn()
    assert socket.writes == [HEAD], "the scheduled flush finds nothing left to send"


async def test_a_lost_connection_drops_the_held_head() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    socket.closing = True  # the peer went away before the next turn
    await next_turn()
    assert socket.writes == []


async def test_a_large_body_follows_its_head_in_order() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    body = b"x" * (MAX_JOINED_BODY + 1)
    transport.write(HEAD)
    transport.write(body)
    assert socket.writes == [HEAD, body]


async def test_other_writes_pass_straight_through() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"5\r\nhello\r\n")  # a chunk of a chunked body
    transport.writelines([b"0\r\n", b"\r\n"])
    assert socket.writes == [b"5\r\nhello\r\n", b"0\r\n", b"\r\n"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5000)
    assert transport.is_closing() is False


async def test_writelines_after_a_head_keeps_the_order() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.writelines([b"{", b"}"])
    assert socket.writes == [HEAD, b"{", b"}"]


async def test_the_write_buffer_counts_a_held_head() -> None:
    socket = RecordingTransport()
    transport = HeadHoldingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    assert transport.get_write_buffer_size() == len(HEAD)


def test_only_a_whole_response_head_is_held() -> None:
    assert is_response_head(HEAD)
    assert is_response_head(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert not is_response_head(b'{"id": 1}')
    assert not is_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n")  # cut short
    assert not is_response_head(b"")
