"""The event loop every server process runs on: uvloop where it is installed.

uvloop (which uvicorn[standard] brings) runs the same asyncio code with less CPU per
callback; gRPC's asyncio stack and psycopg, aio-pika and redis clients run on it unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # not on this platform (uvloop has no Windows build)
    uvloop = None

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop's loop if available, else on the standard one."""
    if uvloop is None:
        return asyncio.run(main)
    return uvloop.run(main)
