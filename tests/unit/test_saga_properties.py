"""Property tests: the order saga driven by random placements, retries, crashes, payments and time.

The real OrderSaga, OrderWriter and Orders application (in memory) place orders against a fake
tickets service backed by real TicketType aggregates, and the fake payment provider. Keys,
buyers and ticket types come from small sets, so retries, reused keys and sell-outs are common;
crashes before an order's save, a provider or tickets service that is down, a writer whose
cache is gone (another replica) and two requests under one key at once are injected. After
every step the tickets as held and sold, the orders as stored and the payments at the provider
must agree: nothing oversold, no hold without the order that owns it (except one a crash left,
which the tickets service ends a grace period past its expiry), no paid order without its
tickets, and no succeeded payment kept without them.

The bugs the machine found are each pinned by a regression test at the end of this file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from domain.errors import (
    HoldEndedError,
    IdempotencyKeyReusedError,
    NotFoundError,
    NotOnSaleError,
    SoldOutError,
)
from domain.money import Money
from domain.order import Order, OrderStatus, order_id_for
from domain.ticket_type import Hold, TicketType
from services.payments import order_writer
from services.payments import saga as saga_module
from services.payments.application import Orders, order_id_of, request_fingerprint
from services.payments.expiry import OpenOrders
from services.payments.order_writer import CACHE_SECONDS, OrderView, OrderWriter
from services.payments.providers.fake import FakePaymentProvider
from services.payments.saga import OrderSaga, ProviderDownError
from services.payments.tickets_client import TicketsUnavailableError, TicketTypeInfo

T = TypeVar("T")

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
HOLD = timedelta(minutes=15)
GRACE = timedelta(seconds=30)  # the tickets service's TICKETING_HOLD_GRACE_SECONDS
PLACED, REJECTED, PENDING = OrderStatus.PLACED, OrderStatus.REJECTED, OrderStatus.PENDING
PAID, REFUNDED = OrderStatus.PAID, OrderStatus.REFUNDED
OPEN = {PLACED, PENDING}

KEYS = ["key-0001", "key-0002", "key-0003"]
# The first two are one buyer: an order's id follows from the key and the email, any case.
EMAILS = ["ann@example.com", "ANN@example.com", "bo@example.com"]
PHONES = ["+254712345678", "+254712345678", "+254700000001"]
ORDER_IDS = sorted({order_id_for(key, email) for key in KEYS for email in EMAILS}, key=str)
EVENT_1, EVENT_2 = uuid4(), uuid4()


@dataclass(frozen=True)
class Kind:
    """A ticket type the test sells: its concert, unit price, stock and minutes on sale."""

    event_id: UUID
    price: int
    stock: int
    on_sale_minutes: int


# A regular pair costs what one vip does, and every free order the same (0), so a key reused
# across them asks the provider for the same amount (payments are opened per request, so it
# must still not meet the other request's); the free tickets stop selling after 90 minutes.
KINDS = {
    "vip": Kind(EVENT_1, 3000, 4, 600),
    "regular": Kind(EVENT_1, 1500, 5, 600),
    "free": Kind(EVENT_2, 0, 3, 90),
}


@dataclass(frozen=True)
class Request:
    """One PlaceOrder request."""

    key: str
    email: str
    ticket: str
    quantity: int
    phone: str

    @property
    def order_id(self) -> UUID:
        return order_id_for(self.key, self.email)


requests = st.builds(
    Request,
    key=st.sampled_from(KEYS),
    email=st.sampled_from(EMAILS),
    ticket=st.sampled_from(sorted(KINDS)),
    quantity=st.integers(1, 3),
    phone=st.sampled_from(PHONES),
)
# Requests sent before, to be sent again: retries are what the saga must get right.
sent = Bundle("sent")
REQUESTS = st.one_of(requests, sent)
# How many turns of the event loop each answer of the tickets service takes to arrive.
LATENCIES = st.lists(st.integers(0, 4), max_size=8)
PICKS = st.integers(0, 5)


Outcome = tuple[OrderView, bool] | Exception
REFUSALS: tuple[type[Exception], ...] = (SoldOutError, NotOnSaleError, IdempotencyKeyReusedError)
# What a rule's injected trouble may answer instead (each rule says which it allows).
TROUBLES = (ProviderDownError, TicketsUnavailableError, ConnectionError, HoldEndedError)


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each asyncio.to_thread job at once on the loop's thread.

    The writer saves (and reads) in a worker thread; here the store is in memory, and running
    it inline makes a run's interleavings depend only on what Hypothesis drew, so a failure
    replays and shrinks.
    """

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the awaiting coroutine, as a thread would
            future.set_exception(error)
        return future


class FakeTickets:
    """The tickets service as the saga's TicketsClient sees it, over real TicketType aggregates.

    Domain errors come back as the real client raises them. `down` makes the next reserve
    fail as an unreachable service does: "before" it reached the service, or "after" (the
    hold was made, the answer lost). `latencies` delays the next answers by some loop turns.
    """

    def __init__(self, ticket_types: dict[UUID, TicketType], clock: Callable[[], datetime]):
        self.ticket_types = ticket_types
        self.clock = clock
        self.latencies: list[int] = []
        self.down: str | None = None

    async def ticket_type(self, ticket_type_id: UUID) -> TicketTypeInfo:
        def read(ticket_type: TicketType) -> TicketTypeInfo:
            return TicketTypeInfo(
                ticket_type.id, ticket_type.event_id, ticket_type.category,
                ticket_type.price, ticket_type.remaining,
            )  # fmt: skip

        return await self._call(ticket_type_id, read)

    async def reserve(
        self, ticket_type_id: UUID, order_id: UUID, quantity: int, expires_at: datetime
    ) -> datetime:
        down, self.down = self.down, None
        if down == "before":
            await asyncio.sleep(0)
            raise TicketsUnavailableError("the tickets service is unavailable (UNAVAILABLE)")

        def reserve(ticket_type: TicketType) -> datetime:
            ticket_type.reserve(str(order_id), quantity, expires_at, self.clock())
            hold = ticket_type.holds.get(str(order_id))
            return expires_at if hold is None else hold.expires_at  # bought already: as asked

        held_until = await self._call(ticket_type_id, reserve)
        if down == "after":
            raise TicketsUnavailableError("the tickets service is unavailable (DEADLINE_EXCEEDED)")
        return held_until

    async def confirm(self, ticket_type_id: UUID, order_id: UUID) -> None:
        await self._call(ticket_type_id, lambda t: t.confirm(str(order_id)))

    async def release(self, ticket_type_id: UUID, order_id: UUID) -> None:
        await self._call(ticket_type_id, lambda t: t.release(str(order_id)))

    async def expire(self, ticket_type_id: UUID, order_id: UUID) -> None:
        await self._call(ticket_type_id, lambda t: t.expire(str(order_id), self.clock()))

    async def refund(self, ticket_type_id: UUID, order_id: UUID) -> None:
        await self._call(ticket_type_id, lambda t: t.refund(str(order_id)))

    async def _call(self, ticket_type_id: UUID, command: Callable[[TicketType], T]) -> T:
        """The request travels, the service applies the command, the answer travels back."""
        await asyncio.sleep(0)
        outcome: T | Exception
        try:
            outcome = command(self.ticket_types[ticket_type_id])
        except Exception as error:
            outcome = error
        for _ in range(self.latencies.pop(0) if self.latencies else 0):
            await asyncio.sleep(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class SagaMachine(RuleBasedStateMachine):
    """The payments service's saga, the tickets it holds and sells, and the provider's payments."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(InlineExecutor())
        # An order's events are stamped by the test's clock, as the saga's times are: a placed
        # order's deadline (placed_at + HOLD) and its hold's expiry then read the same clock.
        Order.Event.create_timestamp = staticmethod(self.clock)  # type: ignore[method-assign]
        # The writer trusts what it saved for CACHE_SECONDS of real time; here it trusts it
        # until a rule says another replica takes over, whatever the machine's speed.
        order_writer.CACHE_SECONDS = float("inf")
        self.orders = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=self.clock)
        self.writer = OrderWriter(self.orders)
        self.kinds: dict[str, TicketType] = {}
        for name, kind in KINDS.items():
            self.kinds[name] = TicketType(
                event_id=kind.event_id, category=name, price=Money(kind.price, "KES"),
                total_stock=kind.stock, sales_start=T0 - timedelta(hours=1),
                sales_end=T0 + timedelta(minutes=kind.on_sale_minutes),
                concert_active=True, created_by="admin-1",
            )  # fmt: skip
        self.ticket_types = {t.id: t for t in self.kinds.values()}
        self.tickets = FakeTickets(self.ticket_types, self.clock)
        self.provider = FakePaymentProvider()
        # FakeTickets stands in for the TicketsClient (the methods the saga calls).
        self.saga = OrderSaga(self.writer, self.tickets, self.provider, HOLD, self.clock)
        self.open_orders = OpenOrders(self.orders, HOLD)
        # Holds an injected crash (or a reserve whose answer was lost) made that no order may
        # ever record: (ticket type, order id). The tickets service's sweep ends them.
        self.orphans: set[tuple[UUID, str]] = set()
        # Payments that succeeded at the provider whose webhook never came.
        self.undelivered: set[str] = set()

    def clock(self) -> datetime:
        return self.now

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(step)

    def stored(self) -> dict[UUID, Order]:
        """Every order as the store has it."""
        found = {}
        for order_id in ORDER_IDS:
            try:
                found[order_id] = self.orders.get_order(order_id)
            except NotFoundError:
                continue
        return found

    @staticmethod
    def records(order: Order | None, ticket_id: UUID) -> bool:
        """Whether the order is an open one of this ticket type (and so owns its hold there)."""
        return order is not None and order.status in OPEN and order.ticket_id == ticket_id

    def adopts(self, order: Order | None, ticket_id: UUID, hold: Hold) -> bool:
        """Whether the order owns a hold a crash (or a lost answer) left under its id: an open
        order of that ticket type and quantity (a hold of another quantity is a different
        request's, which the saga refuses to take as the order's own)."""
        return (
            order is not None and self.records(order, ticket_id) and order.quantity == hold.quantity
        )

    def holds(self) -> set[tuple[UUID, str]]:
        return {(t.id, order_id) for t in self.ticket_types.values() for order_id in t.holds}

    # -- placing ----------------------------------------------------------------------------------

    async def attempt(self, request: Request) -> Outcome:
        kind, ticket_type = KINDS[request.ticket], self.kinds[request.ticket]
        try:
            return await self.saga.place_order(
                request.key, kind.event_id, ticket_type.id, request.quantity, request.email,
                request.phone,
            )  # fmt: skip
        except (*REFUSALS, *TROUBLES) as error:
            return error

    def same_request(self, order: Order, request: Request) -> bool:
        """Whether the order was recorded for this request (a retry), not another one."""
        fingerprint = request_fingerprint(
            KINDS[request.ticket].event_id, self.kinds[request.ticket].id, request.quantity,
            request.email, request.phone,
        )  # fmt: skip
        return order.request_fingerprint == fingerprint

    def place(self, request: Request, allowed: tuple[type[Exception], ...] = ()) -> None:
        """Place the order and check the answer against the order recorded under its key."""
        before = self.stored().get(request.order_id)
        outcome = self.run(self.attempt(request))
        after = self.stored().get(request.order_id)
        if before is not None and before.status is PLACED:
            # The tickets service ended the placed order's hold (its answer lost, the payments
            # service down past its deadline and grace): the retry is told the hold ended.
            allowed = (*allowed, HoldEndedError)
        if isinstance(outcome, Exception):
            assert isinstance(outcome, (*REFUSALS, *allowed)), f"unexpected {outcome!r}"
        if before is not None and not self.same_request(before, request):
            assert isinstance(outcome, (IdempotencyKeyReusedError, ConnectionError)), (
                f"a different request under a key with a recorded order got {outcome!r}"
            )
        if before is not None and self.same_request(before, request):
            assert not isinstance(outcome, IdempotencyKeyReusedError), (
                "a retry of the recorded request was refused as a reused key"
            )
        if not isinstance(outcome, Exception):
            view, created = outcome
            assert after is not None
            assert self.same_request(after, request), "answered with another request's order"
            assert created == (before is None), f"created={created}, recorded before: {before}"
            assert view.status is after.status, f"answered {view.status}, stored {after.status}"

    @rule(target=sent, request=REQUESTS)
    def place_order(self, request: Request) -> Request:
        """A buyer places an order (or retries one); a refusal is an answer, not a failure."""
        self.place(request)
        return request

    @rule(request=sent)
    def retry_a_request(self, request: Request) -> None:
        """A buyer sends a request again, as it was (no answer came, or a double click)."""
        self.place(request)

    @rule(target=sent, request=REQUESTS)
    def place_order_and_crash_before_its_save(self, request: Request) -> Request:
        """The payments service dies after holding the tickets and opening the payment, before
        the order's save: the hold and payment stay; the tickets service ends the hold later."""
        before = self.holds()
        submit = self.writer.submit

        async def dies(*args: Any, **kwargs: Any) -> OrderView:
            self.writer.submit = submit  # type: ignore[method-assign]
            raise ConnectionError("the payments service died before the order's save")

        self.writer.submit = dies  # type: ignore[method-assign]
        try:
            self.place(request, allowed=(ConnectionError,))
        finally:
            vars(self.writer).pop("submit", None)
        self.orphans |= self.holds() - before
        return request

    @rule(target=sent, request=REQUESTS)
    def place_order_while_the_provider_is_down(self, request: Request) -> Request:
        """The provider cannot open the payment: the hold is recorded, a retry opens it."""
        self.provider.unavailable = True
        try:
            self.place(request, allowed=(ProviderDownError,))
        finally:
            self.provider.unavailable = False
        return request

    @rule(target=sent, request=REQUESTS, lost=st.sampled_from(["before", "after"]))
    def place_order_while_the_tickets_service_is_down(self, request: Request, lost: str) -> Request:
        """The reserve call fails, before reaching the tickets service or with its answer
        lost after the hold was made: the order is recorded as placed, for a retry or the sweep."""
        before = self.holds()
        self.tickets.down = lost
        try:
            self.place(request, allowed=(TicketsUnavailableError,))
        finally:
            self.tickets.down = None
        # A hold whose answer was lost is the saga's to guess at, not to know: if no order
        # records it, only the tickets service's sweep ends it, as a crash's.
        self.orphans |= self.holds() - before
        return request

    @rule(
        target=sent,
        first=REQUESTS,
        same=st.booleans(),
        other=requests,
        second_email=st.sampled_from(EMAILS[:2]),
        latencies=LATENCIES,
    )
    def place_two_at_once_under_one_key(
        self, first: Request, same: bool, other: Request, second_email: str, latencies: list[int]
    ) -> MultipleResults[Request]:
        """Two requests under one key arrive together (a double click, or one PlaceOrders call):
        the same request twice, or two different ones; at most one creates the order, and a
        request that is not the recorded order's is refused."""
        email = second_email if first.email in EMAILS[:2] else first.email
        if same:
            second = Request(first.key, email, first.ticket, first.quantity, first.phone)
        else:
            second = Request(first.key, email, other.ticket, other.quantity, other.phone)
        before = self.stored().get(first.order_id)
        self.tickets.latencies = list(latencies)

        async def both() -> list[Outcome]:
            return list(await asyncio.gather(self.attempt(first), self.attempt(second)))

        try:
            outcomes = self.run(both())
        finally:
            self.tickets.latencies = []
        after = self.stored().get(first.order_id)
        created = [o for o in outcomes if not isinstance(o, Exception) and o[1]]
        assert len(created) <= 1, "both requests created the order"
        for request, outcome in zip((first, second), outcomes, strict=True):
            if isinstance(outcome, Exception):
                assert isinstance(outcome, REFUSALS), f"unexpected {outcome!r}"
                continue
            assert after is not None
            assert self.same_request(after, request), "answered with another request's order"
            assert before is None or not outcome[1], "created an order that was recorded before"
        if after is not None:
            for request, outcome in zip((first, second), outcomes, strict=True):
                if not self.same_request(after, request):
                    assert isinstance(outcome, IdempotencyKeyReusedError), (
                        f"the request that is not the recorded order's got {outcome!r}"
                    )
        return multiple(first, second)

    @rule()
    def another_replica_takes_the_next_request(self) -> None:
        """The writer's cache of orders it saved is gone (another replica, or a restart)."""
        self.writer.saved.clear()

    # -- payments ---------------------------------------------------------------------------------

    def attached(self, status: str | None = None) -> list[str]:
        """The payment refs of recorded orders, at the provider in the given status."""
        refs = [o.payment_ref for o in self.stored().values() if o.payment_ref is not None]
        return [r for r in refs if status is None or self.provider.payments[r].status == status]

    @precondition(lambda self: bool(self.attached("pending")))
    @rule(
        pick=PICKS,
        outcome=st.sampled_from(["succeeded", "succeeded", "declined"]),
        news=st.sampled_from(["webhook", "webhook", "verify", "lost"]),
        late=st.sampled_from([False, False, True]),
    )
    def buyer_completes_a_payment(self, pick: int, outcome: str, news: str, late: bool) -> None:
        """The buyer pays (or is declined) at checkout; the webhook tells the saga, or the buyer
        asks to verify, or the word is lost and only the expiry sweep's look finds it. A late
        buyer pays after the hold ran out while the payments service was down, so that the
        tickets service, a grace period past the expiry, ended the hold first."""
        refs = self.attached("pending")
        payment_ref = refs[pick % len(refs)]
        order_id = order_id_of(self.provider.payments[payment_ref].order_id)
        if late:
            held_until = self.orders.get_order(order_id).hold_expires_at
            assert held_until is not None
            self.now = max(self.now, held_until + GRACE)
            self.tickets_sweep()
        self.provider.set_outcome(payment_ref, outcome)  # type: ignore[arg-type]
        if news == "webhook":
            self.run(self.saga.confirm_payment(payment_ref))
        elif news == "verify":
            self.run(self.saga.verify_payment(order_id))
        elif outcome == "succeeded":
            self.undelivered.add(payment_ref)

    @precondition(lambda self: bool(self.attached()))
    @rule(pick=PICKS)
    def a_webhook_is_delivered_again(self, pick: int) -> None:
        """A webhook about any payment arrives (again): the saga applies what the provider says."""
        refs = self.attached()
        self.run(self.saga.confirm_payment(refs[pick % len(refs)]))

    @precondition(lambda self: bool(self.attached("declined")))
    @rule(pick=PICKS)
    def a_declined_payment_succeeds_after_all(self, pick: int) -> None:
        """The buyer's confirmation crossed the decline or the sweep's cancel at the provider,
        and the payment succeeds after all: the webhook must not keep the money."""
        refs = self.attached("declined")
        payment_ref = refs[pick % len(refs)]
        self.provider.set_outcome(payment_ref, "succeeded")
        self.run(self.saga.confirm_payment(payment_ref))

    def refundable(self) -> list[UUID]:
        return [o.id for o in self.stored().values() if o.status in (PAID, REFUNDED)]

    @precondition(lambda self: bool(self.refundable()))
    @rule(pick=PICKS)
    def refund_a_paid_order(self, pick: int) -> None:
        """An admin refunds a paid order (again): the money goes back, the tickets go on sale."""
        order_ids = self.refundable()
        self.run(self.saga.refund_order(order_ids[pick % len(order_ids)], "customer asked"))

    # -- time -------------------------------------------------------------------------------------

    async def payments_sweep(self) -> None:
        self.open_orders.catch_up()
        for order_id in self.open_orders.due(self.now):
            await self.saga.expire_order(order_id)

    def tickets_sweep(self) -> None:
        for ticket_type in self.ticket_types.values():
            for order_id, hold in list(ticket_type.holds.items()):
                if hold.expires_at + GRACE <= self.now:
                    ticket_type.expire(order_id, self.now)

    @rule(
        minutes=st.sampled_from([0, 1, 5, 14, 15, 16, 30]),
        seconds=st.sampled_from([0, 20, 40]),
        payments_up=st.booleans(),
    )
    def time_passes(self, minutes: int, seconds: int, payments_up: bool) -> None:
        """Time passes. The payments service's sweep (unless that service is down) ends every
        order whose hold ran out unpaid, or that was never held by its deadline, closing its
        payment first; the tickets service's sweep ends any hold a grace period past expiry."""
        self.now += timedelta(minutes=minutes, seconds=seconds)
        if payments_up:
            self.run(self.payments_sweep())
            for order in self.stored().values():
                assert order.status is not PENDING or order.hold_expires_at > self.now, (
                    f"order {order.id} outlived its hold"
                )
                assert order.status is not PLACED or order.created_on + HOLD > self.now, (
                    f"placed order {order.id} outlived its deadline"
                )
        self.tickets_sweep()

    @rule()
    def everybody_walks_away(self) -> None:
        """Long after every deadline, once both sweeps ran: no order is still open, and every
        payment that succeeded bought its tickets (or was refunded)."""
        self.now += HOLD + GRACE + timedelta(minutes=1)
        self.run(self.payments_sweep())
        self.tickets_sweep()
        stored = self.stored()
        assert not [o.id for o in stored.values() if o.status in OPEN], "orders still open"
        for payment in self.provider.payments.values():
            if payment.status == "succeeded":
                order = stored.get(order_id_of(payment.order_id))
                assert order is not None, f"payment {payment.payment_ref} succeeded, no order"
                assert order.status is PAID, (
                    f"payment {payment.payment_ref} succeeded; its order is {order.status}"
                )

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def never_oversold(self) -> None:
        """No ticket type ever has more tickets sold and held than it has."""
        for t in self.ticket_types.values():
            committed = sum(h.quantity for h in t.holds.values()) + sum(t.sold_by_order.values())
            assert committed <= t.total_stock, f"{t.category}: {committed} of {t.total_stock}"

    @invariant()
    def every_hold_belongs_to_an_open_order_of_its_tickets(self) -> None:
        """Tickets held are held for a recorded order waiting for them, of that ticket type and
        quantity; only a crash before the order's save (or a lost answer) leaves a hold no order
        records, and the tickets service ends it a grace period past its expiry."""
        stored = self.stored()
        for t in self.ticket_types.values():
            for order_id, hold in t.holds.items():
                order = stored.get(UUID(order_id))
                if (t.id, order_id) in self.orphans and not self.adopts(order, t.id, hold):
                    assert hold.expires_at + GRACE > self.now, (
                        f"a crash's hold on {t.category} outlived its expiry and grace"
                    )
                    continue
                assert order is not None, f"{t.category} holds for order {order_id}, not recorded"
                assert order.status in OPEN, f"{t.category} holds for a {order.status} order"
                assert order.ticket_id == t.id, f"{t.category} holds for another type's order"
                assert order.quantity == hold.quantity, (
                    f"{t.category} holds {hold.quantity} for an order of {order.quantity}"
                )

    @invariant()
    def no_refused_order_keeps_a_hold(self) -> None:
        """A rejected order, or an order of another ticket type (a refused request under its key
        held tickets here), holds nothing: the stray hold was given back."""
        stored = self.stored()
        for t_id, order_id in self.holds() - self.orphans:
            order = stored.get(UUID(order_id))
            if order is not None:
                assert order.status is not REJECTED, f"rejected order {order_id} holds tickets"
                assert order.ticket_id == t_id, f"order {order_id} holds another type's tickets"

    @invariant()
    def every_pending_order_holds_its_tickets(self) -> None:
        """A pending order's tickets are held, as many as it ordered, until the expiry it shows
        the buyer; only the tickets service's sweep, a grace period past that, ends the hold."""
        for order in self.stored().values():
            if order.status is not PENDING:
                continue
            assert order.hold_expires_at is not None
            t = self.ticket_types[order.ticket_id]
            hold = t.holds.get(str(order.id))
            if hold is None:
                assert t.ended_holds.get(str(order.id)) == "expired", (
                    f"pending order {order.id} holds nothing ({t.ended_holds.get(str(order.id))})"
                )
                assert order.hold_expires_at + GRACE <= self.now, (
                    f"pending order {order.id}'s hold ended before its expiry and grace"
                )
                continue
            assert hold.quantity == order.quantity, (
                f"pending order of {order.quantity} holds {hold.quantity}"
            )
            assert hold.expires_at == order.hold_expires_at, (
                f"the order says held until {order.hold_expires_at}, the hold {hold.expires_at}"
            )

    @invariant()
    def paid_orders_and_only_they_bought_tickets(self) -> None:
        """A paid order bought exactly its tickets; tickets are sold only to paid orders; a
        refunded order's tickets are back on sale."""
        stored = self.stored()
        for order in stored.values():
            sold = self.ticket_types[order.ticket_id].sold_by_order.get(str(order.id))
            if order.status is PAID:
                assert sold == order.quantity, f"paid order of {order.quantity}: {sold} sold"
            if order.status is REFUNDED:
                assert sold is None, f"refunded order {order.id} still has {sold} sold"
        for t in self.ticket_types.values():
            for order_id in t.sold_by_order:
                order = stored.get(UUID(order_id))
                assert order is not None, f"{t.category} sold to order {order_id}, not recorded"
                assert (order.status, order.ticket_id) == (PAID, t.id), (
                    f"{t.category} sold to a {order.status} order"
                )

    @invariant()
    def money_is_never_kept_without_tickets(self) -> None:
        """A payment that succeeded is a paid order's (or a pending one whose news has not come
        yet); one whose order ended otherwise was refunded. A paid order's payment succeeded,
        a refunded order's was refunded."""
        stored = self.stored()
        for payment in self.provider.payments.values():
            if payment.status != "succeeded":
                continue
            order = stored.get(order_id_of(payment.order_id))
            assert order is not None, f"payment {payment.payment_ref} succeeded, no order"
            waiting = order.status is PENDING and payment.payment_ref in self.undelivered
            assert order.status is PAID or waiting, (
                f"payment {payment.payment_ref} succeeded and was kept; the order is {order.status}"
            )
        for order in stored.values():
            if order.status in (PAID, REFUNDED):
                assert order.payment_ref is not None
                status = self.provider.payments[order.payment_ref].status
                assert status == ("succeeded" if order.status is PAID else "refunded"), (
                    f"a {order.status} order's payment is {status}"
                )

    def teardown(self) -> None:
        try:
            self.run(self.writer.close())
        finally:
            self.loop.close()
            self.orders.close()
            del Order.Event.create_timestamp
            order_writer.CACHE_SECONDS = CACHE_SECONDS


class SpeculatingSagaMachine(SagaMachine):
    """The same, with every order opening its payment while its hold is being made, as in a
    rush (`saga.SPECULATE_FROM_REMAINING`; here even a sold-out ticket type counts as having
    plenty left, so refused holds with a payment already open are common)."""

    def __init__(self) -> None:
        super().__init__()
        self.speculate_from = saga_module.SPECULATE_FROM_REMAINING
        saga_module.SPECULATE_FROM_REMAINING = 0

    def teardown(self) -> None:
        saga_module.SPECULATE_FROM_REMAINING = self.speculate_from
        super().teardown()


for machine_class in (SagaMachine, SpeculatingSagaMachine):
    machine_class.TestCase.settings = settings(
        max_examples=80, stateful_step_count=30, deadline=None, database=None
    )
TestSagaStateMachine = SagaMachine.TestCase
TestSpeculatingSagaStateMachine = SpeculatingSagaMachine.TestCase


# -- bugs the machine found, each a regression test ----------------------------------------------
#
# Each test replays the shortest sequence found, then checks what a buyer would.

PHONE = PHONES[0]


@contextmanager
def a_machine() -> Iterator[SagaMachine]:
    machine = SagaMachine()
    try:
        yield machine
    finally:
        machine.teardown()


def open_payments(machine: SagaMachine) -> list[str]:
    return [p.payment_ref for p in machine.provider.payments.values() if p.status == "pending"]


def test_two_requests_under_a_recorded_key_at_once_do_not_fail_their_whole_batch() -> None:
    """Found by the machine (fixed): OrderWriter._apply left None for a refused command's order
    in the batch, so the next command on that order saw no order: the placement created one,
    the store refused it, and the batch was replayed until ConflictRetriesExhaustedError
    failed every order in it."""
    with a_machine() as machine:
        machine.place_order(Request("key-0001", "ann@example.com", "vip", 2, PHONE))
        other = Request("key-0001", "ann@example.com", "vip", 1, PHONE)
        machine.place_two_at_once_under_one_key(other, True, other, "ann@example.com", [])


def test_a_different_request_on_another_replica_keeps_the_orders_hold() -> None:
    """Found by the machine (fixed): the placement was saved with probably_new, so the writer
    handed `record` no order without reading the store; `record` refused the payment conflict
    as a reused key at once, and the stray-hold rule, told no order existed, released the
    hold on this ticket type: the recorded order's own. A conflict now reads the store."""
    with a_machine() as machine:
        machine.place_order(Request("key-0001", "ann@example.com", "vip", 2, PHONE))
        machine.another_replica_takes_the_next_request()
        machine.place_order(Request("key-0001", "ann@example.com", "vip", 1, PHONE))
        machine.every_pending_order_holds_its_tickets()


def test_two_different_requests_at_once_pay_for_what_is_held() -> None:
    """Found by the machine (fixed): holds and payments were per order id, which the key
    names, not the request. The first request held 1 ticket, the second's reserve was a
    no-op and its payment (for 2) was opened first, so an order of 2 was recorded over the
    hold of 1: paid for 2, 1 sold. A reserve of another quantity under the order id is now
    refused as a reused key, and payments are opened per request."""
    with a_machine() as machine:
        one = Request("key-0001", "ann@example.com", "vip", 1, PHONE)
        two = Request("key-0001", "ann@example.com", "vip", 2, PHONE)
        machine.place_two_at_once_under_one_key(one, False, two, "ann@example.com", [0, 0, 4, 0])
        order = machine.stored()[one.order_id]
        assert machine.kinds["vip"].holds[str(order.id)].quantity == order.quantity
        assert open_payments(machine) == [order.payment_ref], "the refused one's is cancelled"
        machine.buyer_completes_a_payment(0, "succeeded", "webhook", late=False)
        assert machine.stored()[order.id].status is PAID
        assert machine.kinds["vip"].sold_by_order == {str(order.id): order.quantity}
        machine.paid_orders_and_only_they_bought_tickets()
        machine.money_is_never_kept_without_tickets()


def test_a_different_request_after_a_crash_does_not_take_over_the_crashed_ones_hold() -> None:
    """Found by the machine (fixed): a crash left a hold of 1 free ticket; a different request
    under the key for 2 (the same amount, 0) was recorded as an order of 2 over that hold of
    1. It is now refused as a reused key, and the crash's hold is left to the sweep."""
    with a_machine() as machine:
        crashed = Request("key-0001", "ann@example.com", "free", 1, PHONE)
        machine.place_order_and_crash_before_its_save(crashed)
        other = Request("key-0001", "ann@example.com", "free", 2, PHONE)
        outcome = machine.run(machine.attempt(other))
        assert isinstance(outcome, IdempotencyKeyReusedError), outcome
        assert machine.stored().get(other.order_id) is None
        assert machine.kinds["free"].holds[str(crashed.order_id)].quantity == 1
        assert open_payments(machine) == [
            p.payment_ref for p in machine.provider.payments.values()
            if p.order_id.endswith(request_fingerprint(
                EVENT_2, machine.kinds["free"].id, 1, crashed.email, PHONE)[:32])
        ], "the refused request's own payment is cancelled; the crashed one's stays"  # fmt: skip
        machine.every_hold_belongs_to_an_open_order_of_its_tickets()
        # The crashed request, retried, completes with its own hold and payment.
        machine.place_order(crashed)
        machine.every_pending_order_holds_its_tickets()
        assert machine.stored()[crashed.order_id].quantity == 1


def test_an_order_recorded_without_its_payment_opens_one_on_retry() -> None:
    """Found by the machine (fixed): a crash left a payment of 0 under the order id; a
    different request under the key, with the provider down, was recorded with no payment,
    and every retry asked the provider for a payment of 1500 under that order id and got
    InvalidPaymentStateError, which nothing handled. Payments are now opened per request."""
    with a_machine() as machine:
        machine.place_order_and_crash_before_its_save(
            Request("key-0001", "ann@example.com", "free", 1, PHONE)
        )
        regular = Request("key-0001", "ann@example.com", "regular", 1, PHONE)
        machine.place_order_while_the_provider_is_down(regular)
        machine.retry_a_request(regular)
        order = machine.stored()[regular.order_id]
        assert order.status is PENDING
        assert order.payment_ref is not None
        assert machine.provider.payments[order.payment_ref].amount == Money(1500, "KES")
