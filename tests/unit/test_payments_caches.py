"""What the payments service remembers between orders, and for how long."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest

from protos.ticketing.v1 import common_pb2, tickets_pb2
from services.common import identity as identities
from services.common.errors import UnauthenticatedError
from services.common.identity import Identity, identity_metadata, verify_identity_cached
from services.payments.tickets_client import TicketsClient, TicketsUnavailableError

TICKET, EVENT = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FlakyUnavailable(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"
        )


class TicketsStub:
    """Answers GetTicketType with the current price, after a moment; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.price = 2500
        self.down = False

    async def GetTicketType(self, request, timeout, metadata):  # noqa: N802 (gRPC's name)
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.down:
            raise FlakyUnavailable()
        return tickets_pb2.TicketType(
            id=request.ticket_type_id,
            event_id=str(EVENT),
            category="VIP",
            price=common_pb2.Money(minor_units=self.price, currency="KES"),
            remaining=10,
        )


async def test_concurrent_orders_share_one_read_and_a_price_change_shows_within_the_interval():
    stub, clock = TicketsStub(), Clock()
    client = TicketsClient(stub, b"s" * 32, cache_seconds=1.0, clock=clock)

    answers = await asyncio.gather(*(client.ticket_type(TICKET) for _ in range(50)))
    assert stub.calls == 1
    assert {str(answer.price) for answer in answers} == {"25.00"}
    assert answers[0].event_id == EVENT

    stub.price = 3000  # an admin changes the price
    clock.now += 0.5
    assert str((await client.ticket_type(TICKET)).price) == "25.00"
    clock.now += 0.6  # more than the interval since the read
    assert str((await client.ticket_type(TICKET)).price) == "30.00"
    assert stub.calls == 2


async def test_a_failed_read_is_not_remembered():
    stub, clock = TicketsStub(), Clock()
    client = TicketsClient(stub, b"s" * 32, cache_seconds=1.0, clock=clock)
    stub.down = True
    for _ in range(2):
        with pytest.raises(TicketsUnavailableError):
            await client.ticket_type(TICKET)
    stub.down = False
    assert str((await client.ticket_type(TICKET)).price) == "25.00"
    assert stub.calls == 3


def test_a_signed_identity_is_reused_for_half_its_life_then_signed_again(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(identities.time, "time", clock)
    monkeypatch.setattr(identities, "_signed", {})
    caller = Identity("payments", "service", "payments")
    first = identity_metadata(caller, b"k" * 32)
    clock.now += 29
    assert identity_metadata(caller, b"k" * 32) == first
    clock.now += 2  # fewer than 30 of its 60 seconds left: a fresh one
    assert identity_metadata(caller, b"k" * 32) != first
    assert identity_metadata(Identity("gateway", "service", "gateway"), b"k" * 32) != first


def test_a_remembered_identity_still_expires_and_a_forged_one_is_never_remembered(monkeypatch):
    monkeypatch.setattr(identities, "_verified", {})
    caller = Identity("u-1", "admin", "gateway")
    [(_, value)] = identity_metadata(caller, b"k" * 32)
    assert verify_identity_cached(value, b"k" * 32) == caller
    assert verify_identity_cached(value, b"k" * 32) == caller  # from memory
    with pytest.raises(UnauthenticatedError):
        verify_identity_cached(value, b"x" * 32)  # another installation's secret
    later = time.time() + 61
    monkeypatch.setattr(identities.time, "time", lambda: later)
    with pytest.raises(UnauthenticatedError):
        verify_identity_cached(value, b"k" * 32)
