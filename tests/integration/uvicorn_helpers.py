"""An ASGI app under a real uvicorn server in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


@contextmanager
def serving_in_thread(config: uvicorn.Config, sock: socket.socket, name: str) -> Iterator[None]:
    """Serve config's app on the bound sock until the block ends; then stop and close it."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), f"{name} failed to start"
        assert time.monotonic() < deadline, f"{name} did not start in time"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), f"{name} did not stop"
