"""uvicorn's HTTP/1.1 protocol, writing a response's head and body in one send.

uvicorn writes a response's head and its body with two `transport.write` calls, so two
send(2) calls on the socket, and on loopback two wake-ups of the client, which first reads
an incomplete answer. In a rush every order's answer goes out of the gateway this way and
every payment's answer out of the sandbox: the two writes were 28 % of the gateway's CPU and
10 % of the sandbox's (py-spy, bench/RESULTS.md, session 9). `OneWriteHttpToolsProtocol`
gives uvicorn a transport that holds a response head back until the next write (the body,
which the fast paths and Starlette's responses send in the same step) and sends both as one.
A head that nothing follows in that step (a HEAD request, a 304, a stream that waits for its
first event) goes out at the loop's next turn; a close sends it first. Bytes always leave in
the order they were written.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Joining copies the body: beyond this size the head and body go out in two writes as before.
MAX_JOINED_BODY = 64 * 1024


def is_response_head(data: bytes) -> bool:
    """A whole HTTP/1.x response head, as uvicorn writes it (status line to the blank line)."""
    return data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n"


class HeadHoldingTransport:
    """A transport that sends a response head together with the write that follows it."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= MAX_JOINED_BODY:
                self._transport.write(held + bytes(data))
                return
            self._transport.write(held)
        elif is_response_head(data) and not self._transport.is_closing():
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now (dropped if the connection is already closing or lost)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.flush()
        self._transport.writelines(lines)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading, ...) is the transport's.
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `HeadHoldingTransport`: pass it as `http=`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(HeadHoldingTransport(transport, self.loop))  # type: ignore[arg-type]
