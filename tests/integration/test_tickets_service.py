"""The tickets service over real gRPC channels, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from eventsourcing.persistence import IntegrityError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from domain.errors import SoldOutError
from protos.ticketing.v1 import common_pb2, tickets_pb2, tickets_pb2_grpc
from services.common.identity import Identity, identity_metadata
from services.common.protobuf import timestamp
from services.payments.tickets_client import TicketsClient, TicketsUnavailableError
from services.tickets.server import build_tickets_service
from tests.integration.grpc_helpers import as_caller, reason_of, service_settings

ADMIN, OTHER_ADMIN, SUPERADMIN = "admin-1", "admin-2", "root-1"


@pytest.fixture
def settings(tmp_path, fresh_database_url):
    return service_settings(tmp_path, fresh_database_url)


@pytest.fixture
async def tickets_process(settings):
    process = build_tickets_service(settings, "127.0.0.1:0")
    await process.service.start()
    yield process
    await process.service.stop(grace=1)


@pytest.fixture
async def stub(tickets_process):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tickets_process.service.port}") as channel:
        yield tickets_pb2_grpc.TicketsServiceStub(channel)


@pytest.fixture
def admin(settings):
    return as_caller(settings, ADMIN, "admin", "gateway")


@pytest.fixture
def payments(settings):
    return as_caller(settings, "payments", "service", "payments")


async def a_concert_on_sale(stub, admin, stock: int = 10, activate: bool = True):
    now = datetime.now(UTC)
    concert = await stub.CreateConcert(
        tickets_pb2.CreateConcertRequest(
            title="Sauti Sol",
            description="Farewell",
            location="Nairobi",
            date_time=timestamp(now + timedelta(days=30)),
        ),
        metadata=admin,
    )
    ticket_type = await stub.AddTicketType(
        tickets_pb2.AddTicketTypeRequest(
            concert_id=concert.id,
            category="VIP",
            price=common_pb2.Money(minor_units=2500, currency="USD"),
            total_stock=stock,
            sales_start=timestamp(now - timedelta(hours=1)),
            sales_end=timestamp(now + timedelta(days=1)),
        ),
        metadata=admin,
    )
    if activate:
        await stub.ChangeConcertStatus(
            tickets_pb2.ChangeConcertStatusRequest(
                concert_id=concert.id, status=tickets_pb2.CONCERT_STATUS_ACTIVE
            ),
            metadata=admin,
        )
    return concert, ticket_type


def reserve(ticket_type, quantity=1, order_id=None):
    return tickets_pb2.ReserveRequest(
        ticket_type_id=ticket_type.id,
        order_id=order_id or str(uuid.uuid4()),
        quantity=quantity,
        expires_at=timestamp(datetime.now(UTC) + timedelta(minutes=15)),
    )


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_an_admin_creates_a_concert_with_tickets_and_puts_it_on_sale(stub, admin):
    concert, ticket_type = await a_concert_on_sale(stub, admin, stock=10)
    loaded = await stub.GetConcert(
        tickets_pb2.GetConcertRequest(concert_id=concert.id), metadata=admin
    )
    assert loaded.status == tickets_pb2.CONCERT_STATUS_ACTIVE
    assert loaded.created_by == ADMIN
    assert [t.id for t in loaded.ticket_types] == [ticket_type.id]
    assert loaded.ticket_types[0].on_sale
    assert loaded.ticket_types[0].remaining == 10
    assert loaded.ticket_types[0].price == common_pb2.Money(minor_units=2500, currency="USD")


async def test_the_payments_service_holds_confirms_and_releases_idempotently(stub, admin, payments):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=10)
    paid, abandoned = str(uuid.uuid4()), str(uuid.uuid4())
    first = await stub.Reserve(reserve(ticket_type, 3, paid), metadata=payments)
    again = await stub.Reserve(reserve(ticket_type, 3, paid), metadata=payments)
    assert (first.held, again.held, again.version) == (3, 3, first.version)
    await stub.Reserve(reserve(ticket_type, 2, abandoned), metadata=payments)
    hold = tickets_pb2.HoldRequest(ticket_type_id=ticket_type.id, order_id=paid)
    confirmed = await stub.Confirm(hold, metadata=payments)
    assert (await stub.Confirm(hold, metadata=payments)).version == confirmed.version
    assert (confirmed.sold, confirmed.held, confirmed.remaining) == (3, 2, 5)
    released = tickets_pb2.HoldRequest(ticket_type_id=ticket_type.id, order_id=abandoned)
    after = await stub.Release(released, metadata=payments)
    assert (await stub.Release(released, metadata=payments)).version == after.version
    assert (after.sold, after.held, after.remaining) == (3, 0, 7)


async def test_an_admin_cannot_see_or_touch_another_admins_concert(stub, admin, settings):
    concert, ticket_type = await a_concert_on_sale(stub, admin)
    other = as_caller(settings, OTHER_ADMIN, "admin", "gateway")
    calls = [
        stub.GetConcert(tickets_pb2.GetConcertRequest(concert_id=concert.id), metadata=other),
        stub.UpdateConcert(
            tickets_pb2.UpdateConcertRequest(concert_id=concert.id, title="Mine now"),
            metadata=other,
        ),
        stub.ChangeConcertStatus(
            tickets_pb2.ChangeConcertStatusRequest(
                concert_id=concert.id, status=tickets_pb2.CONCERT_STATUS_CANCELLED
            ),
            metadata=other,
        ),
        stub.DeleteConcert(tickets_pb2.DeleteConcertRequest(concert_id=concert.id), metadata=other),
        stub.UpdateTicketType(
            tickets_pb2.UpdateTicketTypeRequest(ticket_type_id=ticket_type.id, total_stock=1),
            metadata=other,
        ),
        stub.GetTicketType(
            tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket_type.id), metadata=other
        ),
    ]
    for call in calls:
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND
    root = as_caller(settings, SUPERADMIN, "superadmin", "gateway")
    renamed = await stub.UpdateConcert(
        tickets_pb2.UpdateConcertRequest(concert_id=concert.id, title="Renamed"), metadata=root
    )
    assert renamed.title == "Renamed"


async def test_callers_without_the_right_identity_are_refused(stub, admin, settings):
    _, ticket_type = await a_concert_on_sale(stub, admin)
    create = tickets_pb2.CreateConcertRequest(
        title="x", location="y", date_time=timestamp(datetime.now(UTC))
    )
    no_identity = await refused(stub.CreateConcert(create))
    assert no_identity.code() == grpc.StatusCode.UNAUTHENTICATED
    forged = identity_metadata(Identity(ADMIN, "admin", "gateway"), b"not-the-secret" * 3)
    assert (await refused(stub.CreateConcert(create, metadata=forged))).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    customer = as_caller(settings, "anonymous", "customer", "gateway")
    assert (await refused(stub.CreateConcert(create, metadata=customer))).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    # Only the payments service holds tickets; an admin may not.
    assert (await refused(stub.Reserve(reserve(ticket_type), metadata=admin))).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )


async def test_every_refusal_has_its_status_and_reason(stub, admin, payments):
    concert, ticket_type = await a_concert_on_sale(stub, admin, stock=2)
    _, not_on_sale = await a_concert_on_sale(stub, admin, stock=2, activate=False)
    cases = [
        (
            stub.Reserve(reserve(ticket_type, 3), metadata=payments),
            grpc.StatusCode.FAILED_PRECONDITION,
            "sold_out",
        ),
        (
            stub.Reserve(reserve(not_on_sale, 1), metadata=payments),
            grpc.StatusCode.FAILED_PRECONDITION,
            "not_on_sale",
        ),
        (
            stub.Reserve(reserve(ticket_type, 0), metadata=payments),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_argument",
        ),
        (
            stub.GetConcert(tickets_pb2.GetConcertRequest(concert_id="nope"), metadata=admin),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_argument",
        ),
        (
            stub.GetConcert(
                tickets_pb2.GetConcertRequest(concert_id=str(uuid.uuid4())), metadata=admin
            ),
            grpc.StatusCode.NOT_FOUND,
            "not_found",
        ),
        (
            stub.Confirm(
                tickets_pb2.HoldRequest(ticket_type_id=ticket_type.id, order_id=str(uuid.uuid4())),
                metadata=payments,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "no_such_hold",
        ),
        (
            stub.UpdateTicketType(
                tickets_pb2.UpdateTicketTypeRequest(
                    ticket_type_id=ticket_type.id,
                    price=common_pb2.Money(minor_units=100, currency="KES"),
                ),
                metadata=admin,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "currency_mismatch",
        ),
    ]
    for call, code, reason in cases:
        error = await refused(call)
        assert (error.code(), reason_of(error)) == (code, reason), error.details()
        assert error.details()

    order = str(uuid.uuid4())
    await stub.Reserve(reserve(ticket_type, 2, order), metadata=payments)
    below = await refused(
        stub.UpdateTicketType(
            tickets_pb2.UpdateTicketTypeRequest(ticket_type_id=ticket_type.id, total_stock=1),
            metadata=admin,
        )
    )
    assert reason_of(below) == "stock_below_committed"
    has_sales = await refused(
        stub.DeleteConcert(tickets_pb2.DeleteConcertRequest(concert_id=concert.id), metadata=admin)
    )
    assert (has_sales.code(), reason_of(has_sales)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "has_sales",
    )
    await stub.ChangeConcertStatus(
        tickets_pb2.ChangeConcertStatusRequest(
            concert_id=concert.id, status=tickets_pb2.CONCERT_STATUS_CANCELLED
        ),
        metadata=admin,
    )
    final = await refused(
        stub.ChangeConcertStatus(
            tickets_pb2.ChangeConcertStatusRequest(
                concert_id=concert.id, status=tickets_pb2.CONCERT_STATUS_ACTIVE
            ),
            metadata=admin,
        )
    )
    assert (final.code(), reason_of(final)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "invalid_transition",
    )


async def test_five_hundred_concurrent_reserves_for_one_hundred_tickets_hold_exactly_one_hundred(
    stub, admin, payments, tickets_process
):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=100)
    tickets_process.writers.batches_saved = 0
    calls = [stub.Reserve(reserve(ticket_type), metadata=payments) for _ in range(500)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    held = [o for o in outcomes if isinstance(o, tickets_pb2.TicketType)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(held) == 100
    assert len(refusals) == 400
    assert {(e.code(), reason_of(e)) for e in refusals} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "sold_out")
    }
    final = await stub.GetTicketType(
        tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket_type.id), metadata=admin
    )
    assert (final.held, final.remaining) == (100, 0)
    # Group commit: holds were saved several to a transaction.
    assert tickets_process.writers.batches_saved < 100
    app = tickets_process.tickets
    versions = [e.originator_version for e in app.recorder.select_events(uuid.UUID(ticket_type.id))]
    assert versions == list(range(1, len(versions) + 1))


async def test_two_replicas_writing_one_ticket_type_never_oversell(settings, admin, payments):
    first = build_tickets_service(settings, "127.0.0.1:0")
    second = build_tickets_service(settings, "127.0.0.1:0")
    await first.service.start()
    await second.service.start()
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{first.service.port}") as one,
            grpc.aio.insecure_channel(f"127.0.0.1:{second.service.port}") as two,
        ):
            stubs = [tickets_pb2_grpc.TicketsServiceStub(c) for c in (one, two)]
            _, ticket_type = await a_concert_on_sale(stubs[0], admin, stock=60)
            calls = [
                stubs[i % 2].Reserve(reserve(ticket_type), metadata=payments) for i in range(200)
            ]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            held = sum(isinstance(o, tickets_pb2.TicketType) for o in outcomes)
            sold_out = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
            assert held == 60
            assert {reason_of(e) for e in sold_out} == {"sold_out"}
            assert len(sold_out) == 140
            for stub in stubs:
                final = await stub.GetTicketType(
                    tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket_type.id),
                    metadata=admin,
                )
                assert (final.held, final.remaining) == (60, 0)
    finally:
        await first.service.stop(grace=1)
        await second.service.stop(grace=1)


async def test_a_command_that_keeps_meeting_newer_versions_is_aborted(
    stub, admin, payments, tickets_process
):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=10)

    def always_stale(*aggregates, **kwargs):
        raise IntegrityError("another writer appended first")

    tickets_process.tickets.save = always_stale
    error = await refused(stub.Reserve(reserve(ticket_type), metadata=payments))
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.ABORTED, "conflict")
    assert "attempts" in error.details()


async def test_the_server_lists_its_services_by_reflection_and_reports_health(tickets_process):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tickets_process.service.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="ticketing.v1.TicketsService")
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING

    def list_services() -> list[str]:
        # The reflection client is synchronous: keep it off the loop that serves the call.
        with grpc.insecure_channel(f"127.0.0.1:{tickets_process.service.port}") as channel:
            return list(ProtoReflectionDescriptorDatabase(channel).get_services())

    services = await asyncio.to_thread(list_services)
    assert "ticketing.v1.TicketsService" in services
    assert "grpc.health.v1.Health" in services


def hold_item(quantity=1, order_id=None, minutes=15):
    return tickets_pb2.ReserveItem(
        order_id=order_id or str(uuid.uuid4()),
        quantity=quantity,
        expires_at=timestamp(datetime.now(UTC) + timedelta(minutes=minutes)),
    )


async def test_a_batch_of_holds_is_decided_hold_by_hold_and_saved_as_one_event(
    stub, admin, payments, tickets_process
):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=5)
    repeat = str(uuid.uuid4())
    items = [
        hold_item(2, repeat),
        hold_item(2, repeat),  # the same order again: held once
        hold_item(3),
        hold_item(1),  # one more than is left
        hold_item(1, "not-a-uuid"),
        hold_item(1, minutes=-1),  # a hold that would already have run out
        hold_item(0),
    ]
    tickets_process.writers.batches_saved = 0
    answer = await stub.ReserveBatch(
        tickets_pb2.ReserveBatchRequest(ticket_type_id=ticket_type.id, holds=items),
        metadata=payments,
    )
    assert [o.order_id for o in answer.outcomes] == [i.order_id for i in items]
    assert [o.reason for o in answer.outcomes] == [
        "", "", "", "sold_out", "invalid_argument", "invalid_argument", "invalid_argument",
    ]  # fmt: skip
    assert "order_id" in answer.outcomes[4].message
    final = await stub.GetTicketType(
        tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket_type.id), metadata=admin
    )
    assert (final.held, final.remaining) == (5, 0)
    assert tickets_process.writers.batches_saved == 1
    assert answer.outcomes[1].expires_at == answer.outcomes[0].expires_at  # the same hold
    # The batch's new holds are one event.
    stored = list(tickets_process.tickets.repository.event_store.get(uuid.UUID(ticket_type.id)))
    assert type(stored[-1]).__name__ == "HoldsReserved"
    assert type(stored[-2]).__name__ != "HoldsReserved"
    assert [(order, quantity) for order, quantity, _ in stored[-1].holds] == [
        (repeat, 2), (items[2].order_id, 3),
    ]  # fmt: skip


async def test_a_batch_is_refused_whole_when_the_call_itself_is_wrong(
    stub, admin, payments, settings
):
    _, ticket_type = await a_concert_on_sale(stub, admin)
    batch = tickets_pb2.ReserveBatchRequest(ticket_type_id=ticket_type.id, holds=[hold_item()])
    error = await refused(stub.ReserveBatch(batch, metadata=admin))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    empty = tickets_pb2.ReserveBatchRequest(ticket_type_id=ticket_type.id)
    error = await refused(stub.ReserveBatch(empty, metadata=payments))
    assert (error.code(), reason_of(error)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_argument",
    )
    unknown = tickets_pb2.ReserveBatchRequest(ticket_type_id=str(uuid.uuid4()), holds=[hold_item()])
    answer = await stub.ReserveBatch(unknown, metadata=payments)
    assert [o.reason for o in answer.outcomes] == ["not_found"]


async def test_the_payments_client_sends_concurrent_holds_in_few_calls(
    stub, admin, settings, tickets_process
):
    _, ticket_type = await a_concert_on_sale(stub, admin, stock=100)
    counting = CountingStub(stub)
    client = TicketsClient(counting, settings.secret("internal"))
    expires = datetime.now(UTC) + timedelta(minutes=15)
    ticket_type_id = uuid.UUID(ticket_type.id)
    outcomes = await asyncio.gather(
        *(client.reserve(ticket_type_id, uuid.uuid4(), 1, expires) for _ in range(300)),
        return_exceptions=True,
    )
    assert [o for o in outcomes if isinstance(o, datetime)] == [expires] * 100
    assert {type(o) for o in outcomes if not isinstance(o, datetime)} == {SoldOutError}
    assert counting.calls < 300 / 5, f"{counting.calls} calls for 300 holds"
    final = await stub.GetTicketType(
        tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket_type.id), metadata=admin
    )
    assert (final.held, final.remaining) == (100, 0)


async def test_the_payments_client_fails_every_hold_of_a_call_that_failed(admin, settings):
    client = TicketsClient(
        tickets_pb2_grpc.TicketsServiceStub(grpc.aio.insecure_channel("127.0.0.1:9")),
        settings.secret("internal"),
    )
    expires = datetime.now(UTC) + timedelta(minutes=15)
    outcomes = await asyncio.gather(
        *(client.reserve(uuid.uuid4(), uuid.uuid4(), 1, expires) for _ in range(3)),
        return_exceptions=True,
    )
    assert {type(o) for o in outcomes} == {TicketsUnavailableError}


class CountingStub:
    """A tickets stub that counts the ReserveBatch calls it forwards."""

    def __init__(self, stub) -> None:
        self.stub = stub
        self.calls = 0

    async def ReserveBatch(self, request, **kwargs):  # noqa: N802 (gRPC's name)
        self.calls += 1
        return await self.stub.ReserveBatch(request, **kwargs)
