"""The tickets service ends holds nobody came back for, a grace period past their expiry.

Real gRPC and PostgreSQL; the clock is moved by the test, and the sweep is run by hand.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from protos.ticketing.v1 import tickets_pb2, tickets_pb2_grpc
from services.payments.tickets_client import TicketsClient
from services.tickets.server import build_tickets_service
from tests.integration.grpc_helpers import as_caller, service_settings
from tests.integration.test_tickets_service import a_concert_on_sale

HOLD = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def settings(tmp_path, fresh_database_url):
    return service_settings(tmp_path, fresh_database_url)


@pytest.fixture
def clock():
    return Clock()


async def start(settings, clock):
    process = build_tickets_service(settings, "127.0.0.1:0", clock=clock, sweep_interval=3600)
    await process.service.start()
    return process


@pytest.fixture
async def process(settings, clock):
    process = await start(settings, clock)
    yield process
    await process.service.stop(grace=1)


@pytest.fixture
async def stub(process):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{process.service.port}") as channel:
        yield tickets_pb2_grpc.TicketsServiceStub(channel)


@pytest.fixture
def admin(settings):
    return as_caller(settings, "admin-1", "admin", "gateway")


@pytest.fixture
def client(stub, settings):
    return TicketsClient(stub, settings.secret("internal"))


async def inventory(stub, admin, ticket_type):
    answer = await stub.GetTicketType(
        tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket_type.id), metadata=admin
    )
    return answer.sold, answer.held, answer.remaining


async def test_a_hold_nobody_came_back_for_ends_a_grace_period_past_its_expiry(
    process, stub, admin, client, clock, settings
):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=10)
    ticket_type_id = uuid.UUID(ticket_type.id)
    expires = clock() + HOLD
    forgotten, paid, released = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for order in (forgotten, paid, released):
        assert await client.reserve(ticket_type_id, order, 2, expires) == expires
    await client.confirm(ticket_type_id, paid)
    await client.release(ticket_type_id, released)
    grace = timedelta(seconds=settings.ticketing_hold_grace_seconds)

    clock.offset = HOLD + grace - timedelta(seconds=1)  # expired, but within the grace
    assert await process.sweeper.sweep() == []
    assert await inventory(stub, admin, ticket_type) == (2, 2, 6)

    clock.offset = HOLD + grace + timedelta(seconds=1)
    assert await process.sweeper.sweep() == [(ticket_type_id, str(forgotten))]
    assert await inventory(stub, admin, ticket_type) == (2, 0, 8)
    assert await process.sweeper.sweep() == []  # once
    stored = list(process.tickets.repository.event_store.get(ticket_type_id))
    assert [type(event).__name__ for event in stored][-1] == "Expired"
    assert stored[-1].order_id == str(forgotten)


async def test_a_repeat_reserve_answers_the_existing_holds_own_expiry(stub, admin, client, clock):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=10)
    ticket_type_id, order = uuid.UUID(ticket_type.id), uuid.uuid4()
    first = clock() + HOLD
    assert await client.reserve(ticket_type_id, order, 3, first) == first
    later = first + timedelta(minutes=5)
    assert await client.reserve(ticket_type_id, order, 3, later) == first
    assert await inventory(stub, admin, ticket_type) == (0, 3, 7)


async def test_a_restarted_service_finds_the_overdue_holds_in_its_log(
    process, stub, admin, client, clock, settings
):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=4)
    ticket_type_id, order = uuid.UUID(ticket_type.id), uuid.uuid4()
    await client.reserve(ticket_type_id, order, 4, clock() + HOLD)
    await process.service.stop(grace=1)

    restarted = await start(settings, clock)
    try:
        clock.offset = HOLD + timedelta(seconds=settings.ticketing_hold_grace_seconds + 1)
        assert await restarted.sweeper.sweep() == [(ticket_type_id, str(order))]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{restarted.service.port}") as channel:
            again = tickets_pb2_grpc.TicketsServiceStub(channel)
            assert await inventory(again, admin, ticket_type) == (0, 0, 4)
    finally:
        await restarted.service.stop(grace=1)
