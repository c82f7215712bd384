"""The order saga over real gRPC: the tickets and payments services, the sandbox, PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest

from domain.money import Money
from domain.order import order_id_for
from protos.ticketing.v1 import (
    common_pb2,
    payments_pb2,
    payments_pb2_grpc,
    tickets_pb2,
    tickets_pb2_grpc,
)
from services.common.database import PostgresDatabase
from services.common.logs import REQUEST_ID
from services.common.protobuf import timestamp
from services.payments import saga as saga_module
from services.payments.application import payment_reference, request_fingerprint
from services.payments.providers.fake import FakePaymentProvider
from services.payments.providers.sandbox import SandboxProvider
from services.payments.providers.sandbox_store import SandboxStore
from services.payments.server import build_payments_service
from services.payments.tickets_client import TicketsUnavailableError
from services.tickets.server import build_tickets_service
from tests.integration.grpc_helpers import as_caller, reason_of, service_settings
from tests.integration.sandbox_helpers import SECRET, running_sandbox
from tests.ports import a_free_port

HOLD = timedelta(minutes=15)
PHONE = "+254712345678"


class Clock:
    """Real time, plus however far the test has moved it."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class System:
    """The services of one test, and clients to drive them as the gateway would."""

    def __init__(self, settings, clock, tickets, payments, sandbox_url, provider):
        self.settings = settings
        self.clock = clock
        self.tickets = tickets
        self.payments = payments
        self.sandbox_url = sandbox_url
        self.provider = provider
        self.admin = as_caller(settings, "admin-1", "admin", "gateway")
        self.customer = as_caller(settings, "anonymous", "customer", "gateway")
        self.webhook = as_caller(settings, "gateway", "service", "gateway")
        self.payments_caller = as_caller(settings, "payments", "service", "payments")
        self.channels = [
            grpc.aio.insecure_channel(settings.ticketing_tickets_addr),
            grpc.aio.insecure_channel(f"127.0.0.1:{payments.service.port}"),
        ]
        self.tickets_stub = tickets_pb2_grpc.TicketsServiceStub(self.channels[0])
        self.payments_stub = payments_pb2_grpc.PaymentsServiceStub(self.channels[1])

    async def concert_on_sale(self, stock=10, activate=True):
        now = datetime.now(UTC)
        concert = await self.tickets_stub.CreateConcert(
            tickets_pb2.CreateConcertRequest(
                title="Sauti Sol", location="Nairobi", date_time=timestamp(now + timedelta(days=9))
            ),
            metadata=self.admin,
        )
        ticket = await self.tickets_stub.AddTicketType(
            tickets_pb2.AddTicketTypeRequest(
                concert_id=concert.id, category="VIP", total_stock=stock,
                price=common_pb2.Money(minor_units=2500, currency="USD"),
                sales_start=timestamp(now - timedelta(hours=1)),
                sales_end=timestamp(now + timedelta(days=1)),
            ),
            metadata=self.admin,
        )  # fmt: skip
        if activate:
            await self.tickets_stub.ChangeConcertStatus(
                tickets_pb2.ChangeConcertStatusRequest(
                    concert_id=concert.id, status=tickets_pb2.CONCERT_STATUS_ACTIVE
                ),
                metadata=self.admin,
            )
        return concert, ticket

    async def place(self, concert, ticket, quantity=2, key=None, email="fan@example.com"):
        return await self.payments_stub.PlaceOrder(
            payments_pb2.PlaceOrderRequest(
                idempotency_key=key or f"key-{uuid.uuid4()}", event_id=concert.id,
                ticket_id=ticket.id, quantity=quantity, email=email, phone_number=PHONE,
            ),
            metadata=self.customer,
        )  # fmt: skip

    async def ticket(self, ticket):
        return await self.tickets_stub.GetTicketType(
            tickets_pb2.GetTicketTypeRequest(ticket_type_id=ticket.id), metadata=self.admin
        )

    async def pay(self, order, outcome="succeeded"):
        """The customer's click at checkout, then the webhook's ConfirmPayment."""
        await self.complete_at_checkout(order, outcome)
        return await self.payments_stub.ConfirmPayment(
            payments_pb2.ConfirmPaymentRequest(payment_ref=order.payment.payment_ref),
            metadata=self.webhook,
        )

    async def complete_at_checkout(self, order, outcome="succeeded"):
        async with httpx.AsyncClient(base_url=self.sandbox_url) as http:
            answer = await http.post(
                f"/sandbox/payments/{order.payment.payment_ref}/complete", json={"outcome": outcome}
            )
        assert answer.status_code == 200, answer.text

    async def get_order(self, order, token=None):
        return await self.payments_stub.GetOrder(
            payments_pb2.GetOrderRequest(order_id=order.id, order_token=token or order.order_token),
            metadata=self.customer,
        )

    async def close(self):
        for channel in self.channels:
            await channel.close()


@pytest.fixture(autouse=True, params=["hold, then payment", "payment alongside the hold"])
def placement_order(request, monkeypatch):
    """Every test runs both ways a new order is placed: the payment opened after the hold
    (few tickets left), or while it is being made (plenty left)."""
    alongside = request.param == "payment alongside the hold"
    monkeypatch.setattr(saga_module, "SPECULATE_FROM_REMAINING", 1 if alongside else 10**9)
    return request.param


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def settings(tmp_path, fresh_database_url):
    return service_settings(
        tmp_path, fresh_database_url, ticketing_tickets_addr=f"127.0.0.1:{a_free_port()}"
    )


@pytest.fixture
def sandbox_url(settings, tmp_path):
    database = PostgresDatabase(settings.database_url, max_size=4)
    # Webhooks go nowhere here: the tests call ConfirmPayment as the gateway's handler would.
    with running_sandbox(SandboxStore(database), "http://127.0.0.1:9/nowhere", tmp_path) as url:
        yield url
    database.close()


async def start_tickets(settings, clock):
    process = build_tickets_service(
        settings, settings.ticketing_tickets_addr, clock=clock, sweep_interval=3600
    )
    await process.service.start()
    return process


@pytest.fixture
async def system(settings, clock, sandbox_url):
    tickets = await start_tickets(settings, clock)
    provider = SandboxProvider(sandbox_url, SECRET.encode())
    payments = build_payments_service(
        settings, "127.0.0.1:0", provider=provider, clock=clock, sweep_interval=3600
    )
    await payments.service.start()
    system = System(settings, clock, tickets, payments, sandbox_url, provider)
    yield system
    await system.close()
    await payments.service.stop(grace=1)
    await system.tickets.service.stop(grace=1)  # the test may have restarted it
    await provider.aclose()


def order_request(concert, ticket, **changes) -> payments_pb2.PlaceOrderRequest:
    """One ticket for a new buyer key, with any field changed."""
    fields = {
        "idempotency_key": f"key-{uuid.uuid4()}", "event_id": concert.id,
        "ticket_id": ticket.id, "quantity": 1, "email": "fan@example.com", "phone_number": PHONE,
    } | changes  # fmt: skip
    return payments_pb2.PlaceOrderRequest(**fields)


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_an_order_holds_its_tickets_then_payment_sells_them(system):
    concert, ticket = await system.concert_on_sale(stock=10)
    placed = await system.place(concert, ticket, quantity=2)
    order = placed.order
    assert placed.created
    assert order.status == payments_pb2.ORDER_STATUS_PENDING
    assert order.total_amount == common_pb2.Money(minor_units=5000, currency="USD")
    assert order.payment.checkout_url.endswith(f"/sandbox/checkout/{order.payment.payment_ref}")
    assert order.payment.expires_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + HOLD * 0.9
    assert (await system.ticket(ticket)).held == 2

    paid = await system.pay(order)
    assert paid.status == payments_pb2.ORDER_STATUS_PAID
    assert paid.paid_at.seconds > 0
    after = await system.ticket(ticket)
    assert (after.sold, after.held, after.remaining) == (2, 0, 8)
    assert (await system.get_order(order)).status == payments_pb2.ORDER_STATUS_PAID


async def test_a_declined_payment_fails_the_order_and_releases_its_tickets(system):
    concert, ticket = await system.concert_on_sale(stock=10)
    order = (await system.place(concert, ticket, quantity=3)).order
    failed = await system.pay(order, "declined")
    assert failed.status == payments_pb2.ORDER_STATUS_FAILED
    after = await system.ticket(ticket)
    assert (after.sold, after.held, after.remaining) == (0, 0, 10)


async def test_an_order_never_paid_expires_and_its_tickets_return(system):
    concert, ticket = await system.concert_on_sale(stock=10)
    order = (await system.place(concert, ticket, quantity=4)).order
    assert await system.payments.sweeper.sweep() == []  # not due yet
    system.clock.offset = HOLD + timedelta(seconds=1)
    assert await system.payments.sweeper.sweep() == [uuid.UUID(order.id)]
    assert (await system.get_order(order)).status == payments_pb2.ORDER_STATUS_EXPIRED
    after = await system.ticket(ticket)
    assert (after.sold, after.held, after.remaining) == (0, 0, 10)
    # The payment was closed at the provider, so it can no longer succeed.
    assert (await system.provider.get_payment(order.payment.payment_ref)).status == "declined"


async def test_a_payment_made_as_the_hold_runs_out_is_not_lost(system):
    concert, ticket = await system.concert_on_sale(stock=10)
    order = (await system.place(concert, ticket, quantity=1)).order
    system.clock.offset = HOLD + timedelta(seconds=1)
    await system.complete_at_checkout(order, "succeeded")  # the webhook has not arrived yet
    await system.payments.sweeper.sweep()
    assert (await system.get_order(order)).status == payments_pb2.ORDER_STATUS_PAID
    assert (await system.ticket(ticket)).sold == 1


async def test_a_webhook_after_the_hold_time_but_before_the_sweep_still_pays(system):
    concert, ticket = await system.concert_on_sale(stock=10)
    order = (await system.place(concert, ticket, quantity=1)).order
    system.clock.offset = HOLD + timedelta(minutes=5)
    assert (await system.pay(order)).status == payments_pb2.ORDER_STATUS_PAID
    assert (await system.ticket(ticket)).sold == 1


async def test_retries_with_one_key_meet_the_same_order_and_hold_once(system):
    concert, ticket = await system.concert_on_sale(stock=10)
    first = await system.place(concert, ticket, quantity=2, key="retry-key-0001")
    again = await system.place(concert, ticket, quantity=2, key="retry-key-0001")
    assert (first.created, again.created) == (True, False)
    assert again.order.id == first.order.id
    assert again.order.payment.payment_ref == first.order.payment.payment_ref
    assert (await system.ticket(ticket)).held == 2
    paid = await system.pay(first.order)
    confirmed_again = await system.payments_stub.ConfirmPayment(
        payments_pb2.ConfirmPaymentRequest(payment_ref=first.order.payment.payment_ref),
        metadata=system.webhook,
    )
    assert confirmed_again.status == paid.status == payments_pb2.ORDER_STATUS_PAID
    assert (await system.ticket(ticket)).sold == 2
    other_body = await refused(system.place(concert, ticket, quantity=3, key="retry-key-0001"))
    assert (other_body.code(), reason_of(other_body)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "idempotency_key_reused",
    )


async def test_sold_out_and_not_on_sale_orders_are_refused_and_stay_refused(system):
    concert, ticket = await system.concert_on_sale(stock=2)
    sold_out = await refused(system.place(concert, ticket, quantity=3, key="sold-out-key-1"))
    assert (sold_out.code(), reason_of(sold_out)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "sold_out",
    )
    again = await refused(system.place(concert, ticket, quantity=3, key="sold-out-key-1"))
    assert reason_of(again) == "sold_out"
    draft, draft_ticket = await system.concert_on_sale(stock=2, activate=False)
    not_on_sale = await refused(system.place(draft, draft_ticket, quantity=1))
    assert (not_on_sale.code(), reason_of(not_on_sale)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "not_on_sale",
    )
    assert (await system.ticket(ticket)).remaining == 2


async def test_an_order_is_only_shown_with_its_own_token(system):
    concert, ticket = await system.concert_on_sale()
    order = (await system.place(concert, ticket)).order
    last = order.order_token[-1]
    tampered = order.order_token[:-1] + ("B" if last == "A" else "A")
    for token in ("", "wrong", tampered):
        error = await refused(system.get_order(order, token=token or "x"))
        assert error.code() == grpc.StatusCode.NOT_FOUND
    unknown = await refused(system.payments_stub.GetOrder(
        payments_pb2.GetOrderRequest(order_id=str(uuid.uuid4()), order_token=order.order_token),
        metadata=system.customer,
    ))  # fmt: skip
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_orders_are_refused_with_a_clear_status(system):
    concert, ticket = await system.concert_on_sale()
    _, foreign_ticket = await system.concert_on_sale()
    stub = system.payments_stub

    def request(**changes):
        return stub.PlaceOrder(order_request(concert, ticket, **changes), metadata=system.customer)

    cases = [
        (request(event_id="nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (request(quantity=11), grpc.StatusCode.INVALID_ARGUMENT),
        (request(quantity=0), grpc.StatusCode.INVALID_ARGUMENT),
        (request(email="not-an-email"), grpc.StatusCode.INVALID_ARGUMENT),
        (request(phone_number="0712345678"), grpc.StatusCode.INVALID_ARGUMENT),
        (request(idempotency_key="short"), grpc.StatusCode.INVALID_ARGUMENT),
        (request(ticket_id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND),
        (request(ticket_id=foreign_ticket.id), grpc.StatusCode.NOT_FOUND),
        (stub.ConfirmPayment(payments_pb2.ConfirmPaymentRequest(payment_ref="sbx_unknown"),
                             metadata=system.webhook), grpc.StatusCode.NOT_FOUND),
        (stub.ConfirmPayment(payments_pb2.ConfirmPaymentRequest(payment_ref="sbx_unknown"),
                             metadata=system.customer), grpc.StatusCode.PERMISSION_DENIED),
        (stub.PlaceOrder(payments_pb2.PlaceOrderRequest()), grpc.StatusCode.UNAUTHENTICATED),
    ]  # fmt: skip
    for call, code in cases:
        error = await refused(call)
        assert error.code() == code, error.details()
        assert error.details()
    assert (await system.ticket(ticket)).held == 0


async def test_a_paid_order_is_refunded_and_its_tickets_go_back_on_sale(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    order = (await system.place(concert, ticket, quantity=2)).order
    pending_refund = await refused(system.payments_stub.RefundOrder(
        payments_pb2.RefundOrderRequest(order_id=order.id), metadata=system.admin
    ))  # fmt: skip
    assert pending_refund.code() == grpc.StatusCode.FAILED_PRECONDITION
    await system.pay(order)
    refund = payments_pb2.RefundOrderRequest(order_id=order.id, reason="customer asked")
    assert (await refused(system.payments_stub.RefundOrder(refund, metadata=system.customer))
            ).code() == grpc.StatusCode.PERMISSION_DENIED  # fmt: skip
    refunded = await system.payments_stub.RefundOrder(refund, metadata=system.admin)
    assert refunded.status == payments_pb2.ORDER_STATUS_REFUNDED
    again = await system.payments_stub.RefundOrder(refund, metadata=system.admin)
    assert again.status == payments_pb2.ORDER_STATUS_REFUNDED
    assert (await system.provider.get_payment(order.payment.payment_ref)).status == "refunded"
    assert (await system.ticket(ticket)).remaining == 5


async def eventually(call, seconds: float = 10.0):
    """The call's answer once it stops failing with UNAVAILABLE (a service coming back)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_an_unreachable_tickets_service_is_a_clear_error_and_a_retry_succeeds(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    await system.tickets.service.stop(grace=1)
    down = await refused(system.place(concert, ticket, quantity=2, key="while-down-01"))
    assert (down.code(), reason_of(down)) == (grpc.StatusCode.UNAVAILABLE, "tickets_unavailable")
    assert "try again" in down.details()

    system.tickets = await start_tickets(system.settings, system.clock)
    placed = await eventually(
        lambda: system.place(concert, ticket, quantity=2, key="while-down-01")
    )
    assert placed.order.status == payments_pb2.ORDER_STATUS_PENDING
    assert (await eventually(lambda: system.ticket(ticket))).held == 2


async def test_a_hold_whose_answer_was_lost_is_released_when_the_order_expires(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    tickets_client = system.payments.saga.tickets
    reserve = tickets_client.reserve

    async def reserve_and_lose_the_answer(*args):
        await reserve(*args)
        raise TicketsUnavailableError("the connection dropped before the answer came")

    tickets_client.reserve = reserve_and_lose_the_answer
    lost = await refused(system.place(concert, ticket, quantity=2, key="answer-lost-1"))
    assert lost.code() == grpc.StatusCode.UNAVAILABLE
    assert (await system.ticket(ticket)).held == 2

    system.clock.offset = HOLD + timedelta(seconds=1)
    order_id = order_id_for("answer-lost-1", "fan@example.com")
    assert order_id in await system.payments.sweeper.sweep()
    after = await system.ticket(ticket)
    assert (after.held, after.remaining) == (0, 5)


async def test_verify_payment_asks_the_provider_when_no_webhook_came(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    order = (await system.place(concert, ticket, quantity=1)).order
    await system.complete_at_checkout(order, "succeeded")
    assert (await system.get_order(order)).status == payments_pb2.ORDER_STATUS_PENDING
    verified = await system.payments_stub.VerifyPayment(
        payments_pb2.VerifyPaymentRequest(order_id=order.id), metadata=system.admin
    )
    assert verified.status == payments_pb2.ORDER_STATUS_PAID
    assert (await system.ticket(ticket)).sold == 1


async def test_concurrent_orders_are_saved_several_to_a_transaction(system):
    concert, ticket = await system.concert_on_sale(stock=100)
    writer = system.payments.saga.writer
    writer.batches_saved = 0
    placed = await asyncio.gather(*(system.place(concert, ticket, quantity=1) for _ in range(40)))
    assert {p.order.status for p in placed} == {payments_pb2.ORDER_STATUS_PENDING}
    assert len({p.order.id for p in placed}) == 40
    # Each new order is one command (one Placed event with its hold and payment): 40
    # commands, saved in fewer transactions.
    assert writer.batches_saved < 40
    assert (await system.ticket(ticket)).held == 40


async def test_a_provider_that_is_down_keeps_the_hold_and_a_retry_opens_the_payment(
    settings, clock
):
    tickets = await start_tickets(settings, clock)
    provider = FakePaymentProvider()
    payments = build_payments_service(
        settings, "127.0.0.1:0", provider=provider, clock=clock, sweep_interval=3600
    )
    await payments.service.start()
    system = System(settings, clock, tickets, payments, "http://127.0.0.1:9", provider)
    try:
        concert, ticket = await system.concert_on_sale(stock=10)
        provider.unavailable = True
        down = await refused(system.place(concert, ticket, quantity=2, key="key-provider-down"))
        assert down.code() == grpc.StatusCode.UNAVAILABLE
        assert "retry with the same Idempotency-Key" in down.details()
        assert (await system.ticket(ticket)).held == 2  # the hold is recorded, not lost
        order_id = order_id_for("key-provider-down", "fan@example.com")
        recorded = list(payments.orders.repository.event_store.get(order_id))
        # Placed and held in one event, with no payment yet.
        assert [type(event).__name__ for event in recorded] == ["Placed"]
        assert recorded[0].hold_expires_at is not None
        assert recorded[0].payment_ref is None

        provider.unavailable = False
        again = await system.place(concert, ticket, quantity=2, key="key-provider-down")
        assert not again.created
        assert again.order.status == payments_pb2.ORDER_STATUS_PENDING
        assert again.order.payment.payment_ref in provider.payments
        assert (await system.ticket(ticket)).held == 2  # one hold, not two
        stored = payments.orders.repository.event_store.get(uuid.UUID(again.order.id))
        history = [type(event).__name__ for event in stored]
        assert history == ["Placed", "PaymentAttached"]
    finally:
        await system.close()
        await payments.service.stop(grace=1)
        await tickets.service.stop(grace=1)


def order_history(system, order_id) -> list[str]:
    stored = system.payments.orders.repository.event_store.get(uuid.UUID(str(order_id)))
    return [type(event).__name__ for event in stored]


async def test_a_new_order_is_recorded_once_with_its_hold_and_payment(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    writer = system.payments.saga.writer
    before = writer.batches_saved
    placed = await system.place(concert, ticket, quantity=2)
    # The hold and the payment come first; then one save records one event with both.
    assert writer.batches_saved - before == 1
    assert order_history(system, placed.order.id) == ["Placed"]
    (event,) = list(system.payments.orders.repository.event_store.get(uuid.UUID(placed.order.id)))
    assert event.hold_expires_at == placed.order.payment.expires_at.ToDatetime(tzinfo=UTC)
    assert event.payment_ref == placed.order.payment.payment_ref
    assert event.checkout_url == placed.order.payment.checkout_url
    refused_order = await refused(system.place(concert, ticket, quantity=4, key="too-many-01"))
    assert reason_of(refused_order) == "sold_out"
    assert writer.batches_saved - before == 2
    assert order_history(system, order_id_for("too-many-01", "fan@example.com")) == [
        "Placed",
        "Rejected",
    ]


async def lose_the_next_order_save(system):
    """The payments service dies after the hold (and the payment) but before the order's save."""
    writer = system.payments.saga.writer
    submit = writer.submit

    async def dies(*args, **kwargs):
        writer.submit = submit
        raise ConnectionError("the payments service died here")

    writer.submit = dies


async def test_a_retry_after_a_crash_before_the_orders_save_meets_the_same_hold(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    await lose_the_next_order_save(system)
    lost = await refused(system.place(concert, ticket, quantity=2, key="crash-retry-01"))
    assert lost.code() == grpc.StatusCode.INTERNAL
    assert (await system.ticket(ticket)).held == 2  # held, and no order records it yet
    order_id = order_id_for("crash-retry-01", "fan@example.com")
    assert order_history(system, order_id) == []

    system.clock.offset = timedelta(minutes=2)  # the buyer comes back later
    again = await system.place(concert, ticket, quantity=2, key="crash-retry-01")
    assert again.created
    assert again.order.status == payments_pb2.ORDER_STATUS_PENDING
    assert (await system.ticket(ticket)).held == 2  # the same hold, not a second one
    # The order keeps the hold's own expiry, so both services end it at the same moment.
    held_until = again.order.payment.expires_at.ToDatetime(tzinfo=UTC)
    assert held_until < system.clock() + HOLD - timedelta(minutes=1)
    assert (await system.pay(again.order)).status == payments_pb2.ORDER_STATUS_PAID
    assert (await system.ticket(ticket)).sold == 2


async def test_a_hold_whose_order_was_never_recorded_is_ended_by_the_tickets_service(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    await lose_the_next_order_save(system)
    await refused(system.place(concert, ticket, quantity=2, key="crash-forgot-1"))
    assert (await system.ticket(ticket)).held == 2
    grace = timedelta(seconds=system.settings.ticketing_hold_grace_seconds)
    system.clock.offset = HOLD + grace + timedelta(seconds=1)
    assert await system.payments.sweeper.sweep() == []  # payments never knew the order
    order_id = order_id_for("crash-forgot-1", "fan@example.com")
    assert await system.tickets.sweeper.sweep() == [(uuid.UUID(ticket.id), str(order_id))]
    after = await system.ticket(ticket)
    assert (after.held, after.remaining) == (0, 5)
    # The buyer's retry, this late, is told the tickets could not be held, and holds nothing.
    late = await refused(system.place(concert, ticket, quantity=2, key="crash-forgot-1"))
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await system.ticket(ticket)).held == 0
    assert order_history(system, order_id) == ["Placed", "Rejected"]


async def test_a_different_request_under_a_crashed_key_is_refused_and_takes_nothing(system):
    """A crash left a hold of 2 under the key; a request for 3 under the same key is another
    request: refused as a reused key, it neither takes that hold over nor makes its own, and
    a payment it opened is cancelled. The crashed request, retried, completes."""
    concert, ticket = await system.concert_on_sale(stock=10)
    await lose_the_next_order_save(system)
    await refused(system.place(concert, ticket, quantity=2, key="crash-other-1"))
    other = await refused(system.place(concert, ticket, quantity=3, key="crash-other-1"))
    assert other.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(other) == "idempotency_key_reused"
    assert (await system.ticket(ticket)).held == 2
    order_id = order_id_for("crash-other-1", "fan@example.com")
    assert order_history(system, order_id) == []
    if saga_module.SPECULATE_FROM_REMAINING <= 10:  # the payment was opened with the hold
        fingerprint = request_fingerprint(
            uuid.UUID(concert.id), uuid.UUID(ticket.id), 3, "fan@example.com", PHONE
        )
        its_payment = await system.provider.create_payment(
            payment_reference(order_id, fingerprint),
            Money.parse("75.00", "USD"), "3 ticket(s)", "fan@example.com",
        )  # fmt: skip
        assert its_payment.status == "declined"
    again = await system.place(concert, ticket, quantity=2, key="crash-other-1")
    assert again.created
    assert (again.order.status, again.order.quantity) == (payments_pb2.ORDER_STATUS_PENDING, 2)
    assert (await system.ticket(ticket)).held == 2
    assert (await system.pay(again.order)).status == payments_pb2.ORDER_STATUS_PAID
    assert (await system.ticket(ticket)).sold == 2


async def test_a_refused_orders_retry_holds_nothing_when_stock_came_back(system):
    concert, ticket = await system.concert_on_sale(stock=2)
    first = (await system.place(concert, ticket, quantity=2)).order
    sold_out = await refused(system.place(concert, ticket, quantity=2, key="came-back-01"))
    assert reason_of(sold_out) == "sold_out"
    await system.pay(first, "declined")  # the two tickets are back on sale
    system.payments.saga.writer.saved.clear()  # as if another replica took the retry
    again = await refused(system.place(concert, ticket, quantity=2, key="came-back-01"))
    assert reason_of(again) == "sold_out"  # the order was refused; it stays refused
    after = await system.ticket(ticket)
    assert (after.held, after.remaining) == (0, 2)


async def test_a_key_reused_for_another_ticket_type_holds_nothing_there(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    other_concert, other_ticket = await system.concert_on_sale(stock=5)
    await system.place(concert, ticket, quantity=2, key="reused-key-01")
    system.payments.saga.writer.saved.clear()  # as if another replica took the second request
    reused = await refused(
        system.place(other_concert, other_ticket, quantity=1, key="reused-key-01")
    )
    assert (reused.code(), reason_of(reused)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "idempotency_key_reused",
    )
    assert (await system.ticket(other_ticket)).held == 0
    assert (await system.ticket(ticket)).held == 2  # the first order's hold is untouched


async def test_a_payment_after_the_tickets_service_ended_the_hold_is_refunded(system):
    concert, ticket = await system.concert_on_sale(stock=5)
    order = (await system.place(concert, ticket, quantity=2)).order
    # The payments service was down past the hold and the grace: nobody closed the payment.
    grace = timedelta(seconds=system.settings.ticketing_hold_grace_seconds)
    system.clock.offset = HOLD + grace + timedelta(seconds=1)
    assert len(await system.tickets.sweeper.sweep()) == 1
    late = await system.pay(order)  # the buyer pays anyway; the webhook comes
    assert late.status == payments_pb2.ORDER_STATUS_EXPIRED
    assert (await system.provider.get_payment(order.payment.payment_ref)).status == "refunded"
    after = await system.ticket(ticket)
    assert (after.sold, after.held, after.remaining) == (0, 0, 5)


async def test_with_plenty_left_the_payment_opens_alongside_the_hold(system, monkeypatch):
    monkeypatch.setattr(saga_module, "SPECULATE_FROM_REMAINING", 1)  # 3 tickets are plenty
    concert, ticket = await system.concert_on_sale(stock=3)
    placed = await system.place(concert, ticket, quantity=2)
    assert placed.order.status == payments_pb2.ORDER_STATUS_PENDING
    assert order_history(system, placed.order.id) == ["Placed"]
    assert (await system.ticket(ticket)).held == 2
    # Stock ran out since the ticket type was read: the hold is refused, and the payment
    # opened alongside it is cancelled, so that it can never be paid.
    sold_out = await refused(system.place(concert, ticket, quantity=2, key="spec-refused"))
    assert reason_of(sold_out) == "sold_out"
    order_id = order_id_for("spec-refused", "fan@example.com")
    assert order_history(system, order_id) == ["Placed", "Rejected"]
    rejected = system.payments.orders.repository.get(order_id)
    unused = await system.provider.create_payment(  # finds the request's payment again
        payment_reference(order_id, rejected.request_fingerprint),
        Money.parse("50.00", "USD"), "2 ticket(s)", "fan@example.com",
    )  # fmt: skip
    assert unused.status == "declined"
    assert (await system.ticket(ticket)).held == 2
    assert (await system.pay(placed.order)).status == payments_pb2.ORDER_STATUS_PAID


class RequestIds(logging.Handler):
    """The request id in the logging context when each order's line was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str | None] = {}

    def emit(self, record: logging.LogRecord) -> None:
        order_id = getattr(record, "order_id", None)
        if order_id:
            self.ids[order_id] = REQUEST_ID.get()


async def test_place_orders_answers_each_order_as_place_order_would(system):
    concert, ticket = await system.concert_on_sale(stock=3)
    _, foreign_ticket = await system.concert_on_sale()

    def request(**changes):
        return order_request(concert, ticket, **changes)

    bad = [
        request(event_id="nope"), request(quantity=11), request(email="not-an-email"),
        request(phone_number="0712345678"), request(idempotency_key="short"),
        request(ticket_id=str(uuid.uuid4())), request(ticket_id=foreign_ticket.id),
    ]  # fmt: skip
    # What PlaceOrder says of each bad request, one call each.
    expected = []
    for one in bad:
        error = await refused(system.payments_stub.PlaceOrder(one, metadata=system.customer))
        expected.append((error.code().value[0], reason_of(error), error.details()))

    good = [request() for _ in range(5)]  # five buyers for three tickets
    batch = payments_pb2.PlaceOrdersRequest(
        orders=[
            payments_pb2.PlaceOrdersItem(order=one, request_id=f"req-{n}")
            for n, one in enumerate(bad + good)
        ]
    )
    lines, logger = RequestIds(), logging.getLogger("services.payments.servicer")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        answer = await system.payments_stub.PlaceOrders(batch, metadata=system.customer)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    assert len(answer.outcomes) == len(bad) + len(good)

    refusals = [outcome.refusal for outcome in answer.outcomes[: len(bad)]]
    assert [(r.code, r.reason, r.message) for r in refusals] == expected
    placed = [o.placed for o in answer.outcomes[len(bad) :] if o.HasField("placed")]
    sold_out = [o.refusal for o in answer.outcomes[len(bad) :] if o.HasField("refusal")]
    assert len(placed) == 3
    assert len(sold_out) == 2
    assert all(p.created and p.order.status == payments_pb2.ORDER_STATUS_PENDING for p in placed)
    # Each order's "placed" line is logged under its own HTTP request's id.
    placed_at = {n for n, o in enumerate(answer.outcomes) if o.HasField("placed")}
    assert {lines.ids[o.placed.order.id] for o in answer.outcomes if o.HasField("placed")} == {
        f"req-{n}" for n in placed_at
    }
    assert {r.reason for r in sold_out} == {"sold_out"}
    assert {r.code for r in sold_out} == {grpc.StatusCode.FAILED_PRECONDITION.value[0]}
    stock = await system.ticket(ticket)
    assert (stock.held, stock.remaining) == (3, 0)

    # A retried batch finds the same orders again: nothing more is held or charged.
    again = await system.payments_stub.PlaceOrders(batch, metadata=system.customer)
    repeated = [o.placed for o in again.outcomes[len(bad) :] if o.HasField("placed")]
    assert sorted(p.order.id for p in repeated) == sorted(p.order.id for p in placed)
    assert not any(p.created for p in repeated)
    assert {p.order.payment.payment_ref for p in repeated} == {
        p.order.payment.payment_ref for p in placed
    }
    assert (await system.ticket(ticket)).held == 3


async def test_place_orders_is_for_customers_and_bounded(system):
    stub = system.payments_stub
    nobody = await refused(stub.PlaceOrders(payments_pb2.PlaceOrdersRequest()))
    assert nobody.code() == grpc.StatusCode.UNAUTHENTICATED
    item = payments_pb2.PlaceOrdersItem(order=payments_pb2.PlaceOrderRequest())
    too_many = payments_pb2.PlaceOrdersRequest(orders=[item] * 1001)
    error = await refused(stub.PlaceOrders(too_many, metadata=system.customer))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1000" in error.details()
    empty = await stub.PlaceOrders(payments_pb2.PlaceOrdersRequest(), metadata=system.customer)
    assert list(empty.outcomes) == []
