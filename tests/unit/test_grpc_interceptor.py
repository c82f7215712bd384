"""The servers' interceptor refuses a call whose deadline is already spent, before any work.

(Over a real channel this cannot be shown reliably: gRPC rounds deadlines to milliseconds, and
a fast server on loopback answers within the rounding.)
"""

from __future__ import annotations

from typing import NamedTuple

import grpc
import pytest

from services.common.grpc_server import CallContextInterceptor


class CallDetails(NamedTuple):
    method: str
    invocation_metadata: tuple


class SpentContext:
    """A server call context whose deadline has passed."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def time_remaining(self) -> float | None:
        return self.remaining

    def invocation_metadata(self):
        return ()

    def code(self):
        return self.aborted[0] if self.aborted else None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise grpc.aio.AbortError()

    def set_trailing_metadata(self, _metadata) -> None:
        pass


async def guarded_handler(ran: list[str]):
    async def behavior(request, _context):
        ran.append(request)
        return "answer"

    async def continuation(_details):
        return grpc.unary_unary_rpc_method_handler(behavior)

    details = CallDetails("/ticketing.v1.TicketsService/Reserve", ())
    handler = await CallContextInterceptor(b"s" * 32, "tickets").intercept_service(
        continuation, details
    )
    return handler.unary_unary


@pytest.mark.parametrize("remaining", [0.0, -0.5])
async def test_a_spent_deadline_is_refused_before_the_method_runs(remaining):
    ran: list[str] = []
    call = await guarded_handler(ran)
    context = SpentContext(remaining)
    with pytest.raises(grpc.aio.AbortError):
        await call("request", context)
    assert context.aborted == (grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed")
    assert ran == []


@pytest.mark.parametrize("remaining", [None, 5.0])
async def test_a_call_with_time_left_or_no_deadline_runs(remaining):
    ran: list[str] = []
    call = await guarded_handler(ran)
    assert await call("request", SpentContext(remaining)) == "answer"
    assert ran == ["request"]
