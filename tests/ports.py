"""Free TCP ports for servers a test starts, picked where outgoing connections never land.

A port the kernel hands out for `bind(("127.0.0.1", 0))` comes from the ephemeral range, the
same range every outgoing connection (a psycopg pool, an HTTP client, a gRPC channel) takes
its local port from. Between the pick and the server's own bind, or between a server's stop
and its restart on the same port, such a connection could take it, and the server would fail
to start (seen as a rare flake of the graceful-shutdown test). These ports come from below
that range instead, and are never handed out twice in one test process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20_000
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default; elsewhere only the check that it binds matters


def a_free_port() -> int:
    """A port nothing listens on now, below the ephemeral range, not given out before here."""
    high = _ephemeral_low()
    if high - LOWEST < 1_000:  # an unusual range: let the kernel pick
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(1_000):
        port = random.randrange(LOWEST, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {LOWEST} and {high}")
