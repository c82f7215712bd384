"""Property tests: a TicketType driven by random command sequences and checked against a model.

Every command either changes the aggregate exactly as the model predicts, or changes nothing
(a repeat, or a value equal to the current one), or raises one of the TicketingErrors the model
allows for that situation and leaves the aggregate exactly as it was. At the end of every run the
emitted events are replayed, directly and through the application's stored-event mapper, and must
rebuild the live aggregate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.errors import (
    CurrencyMismatchError,
    HoldEndedError,
    HoldNotExpiredError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    NoSuchHoldError,
    NotFoundError,
    NotOnSaleError,
    SoldOutError,
    StockBelowCommittedError,
    TicketingError,
)
from domain.money import Money
from domain.ticket_type import MAX_STOCK, Hold, TicketType
from services.audit.verify import fold_ticket_events
from services.tickets.application import Tickets

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CURRENCY = "KES"
ORDER_IDS = st.sampled_from([f"order-{n}" for n in range(10)])
# Fixed offsets only: the system's times are UTC (its clock) or parsed ISO strings.
ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=3)),
        timezone(timedelta(hours=-5, minutes=-30)),
        timezone(timedelta(hours=5, minutes=45)),
    ]
)
# Mostly inside the initial sales window [0, 600), sometimes well outside it.
MINUTES = st.one_of(
    st.integers(min_value=0, max_value=599), st.integers(min_value=-120, max_value=900)
)
QUANTITIES = st.one_of(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=11, max_value=40),
    st.sampled_from([0, -1, True, MAX_STOCK, MAX_STOCK + 1]),
)
STOCKS = st.one_of(
    st.integers(min_value=0, max_value=40),
    st.sampled_from([-1, True, MAX_STOCK, MAX_STOCK + 1]),
)
# Hold lengths and lateness to the microsecond, so a lossy time encoding cannot go unnoticed.
HOLD_SPANS = st.timedeltas(min_value=timedelta(minutes=-10), max_value=timedelta(hours=1))
FUTURE_HOLD_SPANS = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(hours=1))
LATENESS = st.one_of(
    st.none(),
    st.sampled_from([timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1)]),
    st.timedeltas(min_value=timedelta(minutes=-5), max_value=timedelta(minutes=5)),
)
SOMETIMES = st.sampled_from([False, False, False, False, False, True])


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """A sales window: often the initial [0, 600) minutes, sometimes naive, empty or reversed."""
    start, length = draw(st.one_of(st.just((0, 600)), st.tuples(MINUTES, st.integers(-30, 900))))
    zone = draw(ZONES)
    sales_start, sales_end = at(start, zone), at(start + length, zone)
    if draw(SOMETIMES):
        sales_end = sales_end.replace(tzinfo=None)
    return sales_start, sales_end


WINDOWS = windows()
PRICES = st.one_of(
    st.builds(
        Money,
        st.sampled_from([0, 1500, 2500, 10**9]),
        st.sampled_from([CURRENCY, CURRENCY, "USD"]),
    ),
    st.sampled_from([2500, None, "25.00"]),
)

CHANGES = "changes"
UNCHANGED = "unchanged"
REFUSED = "refused"

Expected = str | tuple[type[TicketingError], ...]


def at(minutes: int, zone: timezone = UTC) -> datetime:
    """A time some minutes after T0, shown in the given zone."""
    return (T0 + timedelta(minutes=minutes)).astimezone(zone)


def is_count(value: object, minimum: int) -> bool:
    """Whether TicketType accepts the value as a count."""
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_STOCK


@cache
def tickets_app() -> Tickets:
    """The tickets application, for its stored-event mapper and transcodings only."""
    return Tickets(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def through_mapper(event: Any) -> Any:
    """The event as it comes back after being stored with the application's transcodings."""
    mapper = tickets_app().mapper
    return mapper.to_domain_event(mapper.to_stored_event(event))


class TicketTypeMachine(RuleBasedStateMachine):
    """One TicketType, a clock, and a model of what the aggregate must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.ticket_type: TicketType | None = None
        self.events: list[Any] = []

    # -- the model ------------------------------------------------------------------------------

    @initialize(
        total_stock=st.integers(min_value=0, max_value=60),
        price=st.integers(min_value=0, max_value=100_000),
        concert_active=st.sampled_from([True, True, True, False]),
        now=MINUTES,
        zone=ZONES,
        may_delete=st.sampled_from([False, False, False, True]),
        first_orders=st.lists(
            st.tuples(ORDER_IDS, st.integers(1, 6), FUTURE_HOLD_SPANS), max_size=6
        ),
    )
    def create_ticket_type(
        self,
        total_stock: int,
        price: int,
        concert_active: bool,
        now: int,
        zone: timezone,
        may_delete: bool,
        first_orders: list[tuple[str, int, timedelta]],
    ) -> None:
        """A new ticket type, and (so that the later rules have holds to work on) a few orders."""
        # Deleting a fresh ticket type ends all the interesting behaviour, so only some runs try.
        self.may_delete = may_delete
        self.total_stock = total_stock
        self.price = Money(price, CURRENCY)
        self.sales_start = at(0, zone)
        self.sales_end = at(600, zone)
        self.concert_active = concert_active
        self.deleted = False
        self.ever_held = False
        self.holds: dict[str, Hold] = {}
        self.sold: dict[str, int] = {}
        self.ended: dict[str, str] = {}
        self.now = at(now)
        self.ticket_type = TicketType(
            event_id=uuid4(),
            category="Standing",
            price=self.price,
            total_stock=total_stock,
            sales_start=self.sales_start,
            sales_end=self.sales_end,
            concert_active=concert_active,
            created_by="admin@example.com",
        )
        self.events.extend(self.ticket_type.collect_events())
        for order_id, quantity, expires_in in first_orders:
            self.do_reserve(order_id, quantity, self.now + expires_in)

    @property
    def aggregate(self) -> TicketType:
        assert self.ticket_type is not None
        return self.ticket_type

    @property
    def committed(self) -> int:
        return sum(self.sold.values()) + sum(hold.quantity for hold in self.holds.values())

    @property
    def remaining(self) -> int:
        return self.total_stock - self.committed

    def on_sale_now(self) -> bool:
        return self.concert_active and self.sales_start <= self.now < self.sales_end

    def no_hold_errors(self, order_id: str) -> tuple[type[TicketingError], ...]:
        """Why a command needing a current hold is refused for an order without one."""
        ended = order_id in self.ended or order_id in self.sold
        errors: list[type[TicketingError]] = [HoldEndedError if ended else NoSuchHoldError]
        if self.deleted:
            errors.append(NotFoundError)
        return tuple(errors)

    def pick_order(self, data: st.DataObject, preferred: Collection[str]) -> str:
        """An order id: often a preferred one, or one held, sold or ended, else any."""
        known = [*[sorted(preferred)] * 3, *map(sorted, (self.holds, self.sold, self.ended))]
        choices = [st.sampled_from(ids) for ids in known if ids]
        return data.draw(st.one_of(*choices, ORDER_IDS), label="order_id")

    def run(self, command: Callable[[], None], expected: Expected, events: int = 1) -> str:
        """Run one command and check its outcome (and how many events it adds) against the model."""
        before = copy.deepcopy(vars(self.aggregate))
        version = self.aggregate.version
        refusal: TicketingError | None = None
        try:
            command()
        except TicketingError as error:
            refusal = error
        if refusal is not None:
            assert isinstance(expected, tuple), f"refused with {refusal!r}; model says {expected}"
            assert isinstance(refusal, expected), f"refused with {refusal!r}, not {expected}"
            assert self.aggregate.version == version
            assert vars(self.aggregate) == before, "a refused command changed the aggregate"
            return REFUSED
        assert not isinstance(expected, tuple), f"accepted; the model expected one of {expected}"
        if expected == UNCHANGED:
            assert self.aggregate.version == version
            assert vars(self.aggregate) == before, "a repeated or empty command changed state"
            assert self.aggregate.collect_events() == []
            return UNCHANGED
        assert self.aggregate.version == version + events
        new_events = self.aggregate.collect_events()
        assert len(new_events) == events
        self.events.extend(new_events)
        return CHANGES

    # -- the clock ------------------------------------------------------------------------------

    @rule(minutes=MINUTES)
    def set_the_clock(self, minutes: int) -> None:
        self.now = at(minutes)

    @rule(
        edge=st.sampled_from(["start", "end"]),
        offset=st.sampled_from([timedelta(0), timedelta(microseconds=-1)]),
    )
    def set_the_clock_to_an_edge_of_the_sales_window(self, edge: str, offset: timedelta) -> None:
        self.now = (self.sales_start if edge == "start" else self.sales_end) + offset

    # -- inventory commands ---------------------------------------------------------------------

    def expected_reserve(self, order_id: str, quantity: Any, expires_at: datetime) -> Expected:
        """What a reserve should do now, by the model."""
        expected: Expected
        if order_id in self.holds or order_id in self.sold:
            # A repeat for the order changes nothing; another quantity is another request.
            committed = self.holds[order_id].quantity if order_id in self.holds else (
                self.sold[order_id]
            )  # fmt: skip
            expected = UNCHANGED if quantity == committed else (IdempotencyKeyReusedError,)
        else:
            errors: list[type[TicketingError]] = []
            if order_id in self.ended:
                errors.append(HoldEndedError)
            if self.deleted:
                errors.append(NotFoundError)
            if not is_count(quantity, 1) or expires_at.utcoffset() is None:
                errors.append(InvalidValueError)
            if not self.on_sale_now():
                errors.append(NotOnSaleError)
            if is_count(quantity, 1) and quantity > self.remaining:
                errors.append(SoldOutError)
            expected = tuple(errors) or CHANGES
        return expected

    def do_reserve(self, order_id: str, quantity: Any, expires_at: datetime) -> str:
        now = self.now
        expected = self.expected_reserve(order_id, quantity, expires_at)
        outcome = self.run(
            lambda: self.aggregate.reserve(order_id, quantity, expires_at, now), expected
        )
        if outcome == CHANGES:
            self.holds[order_id] = Hold(quantity, expires_at)
            self.ever_held = True
        return outcome

    @rule(
        requests=st.lists(
            st.tuples(ORDER_IDS, QUANTITIES, HOLD_SPANS, ZONES, SOMETIMES), max_size=8
        )
    )
    def reserve_a_batch(self, requests: list[tuple[str, Any, timedelta, timezone, bool]]) -> None:
        """reserve_many decides each request as one reserve after another would, and records
        the new holds as one HoldsReserved event (none if nothing is new)."""
        now = self.now
        asked = []
        for order_id, quantity, expires_in, zone, naive in requests:
            expires_at = (now + expires_in).astimezone(zone)
            asked.append(
                (order_id, quantity, expires_at.replace(tzinfo=None) if naive else expires_at)
            )
        before, version = copy.deepcopy(vars(self.aggregate)), self.aggregate.version
        expectations = []
        for order_id, quantity, expires_at in asked:
            expected = self.expected_reserve(order_id, quantity, expires_at)
            expectations.append(expected)
            if expected == CHANGES:
                self.holds[order_id] = Hold(quantity, expires_at)
                self.ever_held = True
        outcomes = self.aggregate.reserve_many(asked, now)
        assert len(outcomes) == len(asked)
        for outcome, expected in zip(outcomes, expectations, strict=True):
            if isinstance(expected, tuple):
                assert isinstance(outcome, expected), f"{outcome!r}; the model says {expected}"
            else:
                assert outcome is None, f"refused with {outcome!r}; the model says {expected}"
        new_events = self.aggregate.collect_events()
        if CHANGES in expectations:
            assert [type(e).__qualname__ for e in new_events] == ["TicketType.HoldsReserved"]
            assert self.aggregate.version == version + 1
        else:
            assert new_events == []
            assert vars(self.aggregate) == before, "a batch with nothing new changed state"
        self.events.extend(new_events)

    @rule(
        order_id=ORDER_IDS,
        quantity=QUANTITIES,
        expires_in=HOLD_SPANS,
        zone=ZONES,
        naive=SOMETIMES,
    )
    def reserve(
        self, order_id: str, quantity: Any, expires_in: timedelta, zone: timezone, naive: bool
    ) -> None:
        expires_at = (self.now + expires_in).astimezone(zone)
        if naive:
            expires_at = expires_at.replace(tzinfo=None)
        self.do_reserve(order_id, quantity, expires_at)

    @rule(order_id=ORDER_IDS, quantity=QUANTITIES, expires_in=FUTURE_HOLD_SPANS)
    def reserve_repeated_for_the_same_order_changes_nothing(
        self, order_id: str, quantity: Any, expires_in: timedelta
    ) -> None:
        expires_at = self.now + expires_in
        first = self.do_reserve(order_id, quantity, expires_at)
        second = self.do_reserve(order_id, quantity, expires_at)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_confirm(self, order_id: str) -> str:
        expected: Expected
        if order_id in self.sold:
            expected = UNCHANGED
        elif order_id in self.holds:
            expected = CHANGES
        else:
            expected = self.no_hold_errors(order_id)
        outcome = self.run(lambda: self.aggregate.confirm(order_id), expected)
        if outcome == CHANGES:
            self.sold[order_id] = self.holds.pop(order_id).quantity
        return outcome

    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        self.do_confirm(self.pick_order(data, self.holds))

    @rule(data=st.data())
    def confirm_repeated_for_the_same_order_changes_nothing(self, data: st.DataObject) -> None:
        order_id = self.pick_order(data, self.holds)
        first = self.do_confirm(order_id)
        second = self.do_confirm(order_id)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_release(self, order_id: str) -> str:
        expected: Expected
        if self.ended.get(order_id) == "released":
            expected = UNCHANGED
        elif order_id in self.holds:
            expected = CHANGES
        else:
            expected = self.no_hold_errors(order_id)
        outcome = self.run(lambda: self.aggregate.release(order_id), expected)
        if outcome == CHANGES:
            del self.holds[order_id]
            self.ended[order_id] = "released"
        return outcome

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        self.do_release(self.pick_order(data, self.holds))

    @rule(data=st.data())
    def release_repeated_for_the_same_order_changes_nothing(self, data: st.DataObject) -> None:
        order_id = self.pick_order(data, self.holds)
        first = self.do_release(order_id)
        second = self.do_release(order_id)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_expire(self, order_id: str, lateness: timedelta | None) -> str:
        """Expire at the clock's time, or (lateness given) that long after the hold's expiry."""
        if lateness is not None and order_id in self.holds:
            self.now = self.holds[order_id].expires_at + lateness
        now = self.now
        expected: Expected
        if self.ended.get(order_id) == "expired":
            expected = UNCHANGED
        elif order_id in self.holds:
            ran_out = now >= self.holds[order_id].expires_at
            expected = CHANGES if ran_out else (HoldNotExpiredError,)
        else:
            expected = self.no_hold_errors(order_id)
        outcome = self.run(lambda: self.aggregate.expire(order_id, now), expected)
        if outcome == CHANGES:
            del self.holds[order_id]
            self.ended[order_id] = "expired"
        return outcome

    @rule(data=st.data(), lateness=LATENESS)
    def expire(self, data: st.DataObject, lateness: timedelta | None) -> None:
        self.do_expire(self.pick_order(data, self.holds), lateness)

    @rule(data=st.data(), lateness=LATENESS)
    def expire_repeated_for_the_same_order_changes_nothing(
        self, data: st.DataObject, lateness: timedelta | None
    ) -> None:
        order_id = self.pick_order(data, self.holds)
        first = self.do_expire(order_id, lateness)
        second = self.do_expire(order_id, None)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_refund(self, order_id: str) -> str:
        expected: Expected
        if self.ended.get(order_id) == "refunded":
            expected = UNCHANGED
        elif order_id in self.sold:
            expected = CHANGES
        else:
            expected = (NoSuchHoldError, HoldEndedError)
        outcome = self.run(lambda: self.aggregate.refund(order_id), expected)
        if outcome == CHANGES:
            del self.sold[order_id]
            self.ended[order_id] = "refunded"
        return outcome

    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        self.do_refund(self.pick_order(data, self.sold))

    @rule(data=st.data())
    def refund_repeated_for_the_same_order_changes_nothing(self, data: st.DataObject) -> None:
        order_id = self.pick_order(data, self.sold)
        first = self.do_refund(order_id)
        second = self.do_refund(order_id)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    # -- admin commands -------------------------------------------------------------------------

    def price_errors(self, price: Any) -> list[type[TicketingError]]:
        if not isinstance(price, Money):
            return [InvalidValueError]
        return [CurrencyMismatchError] if price.currency != CURRENCY else []

    def stock_errors(self, total_stock: Any) -> list[type[TicketingError]]:
        if not is_count(total_stock, 0):
            return [InvalidValueError]
        return [StockBelowCommittedError] if total_stock < self.committed else []

    @staticmethod
    def window_errors(sales_start: datetime, sales_end: datetime) -> list[type[TicketingError]]:
        naive = sales_start.utcoffset() is None or sales_end.utcoffset() is None
        return [InvalidValueError] if naive or sales_start >= sales_end else []

    def deleted_errors(self) -> list[type[TicketingError]]:
        return [NotFoundError] if self.deleted else []

    def do_change_stock(self, total_stock: Any) -> None:
        errors = self.deleted_errors() + self.stock_errors(total_stock)
        expected: Expected = tuple(errors) or (
            UNCHANGED if total_stock == self.total_stock else CHANGES
        )
        outcome = self.run(lambda: self.aggregate.change_stock(total_stock, "admin"), expected)
        if outcome == CHANGES:
            self.total_stock = total_stock

    @rule(total_stock=STOCKS)
    def change_stock(self, total_stock: Any) -> None:
        self.do_change_stock(total_stock)

    @rule(delta=st.integers(-3, 3))
    def change_stock_to_near_what_is_sold_and_held(self, delta: int) -> None:
        self.do_change_stock(self.committed + delta)

    @rule(price=PRICES)
    def change_price(self, price: Any) -> None:
        errors = self.deleted_errors() + self.price_errors(price)
        expected: Expected = tuple(errors) or (UNCHANGED if price == self.price else CHANGES)
        outcome = self.run(lambda: self.aggregate.change_price(price, "admin"), expected)
        if outcome == CHANGES:
            self.price = price

    @rule(window=WINDOWS)
    def change_sales_window(self, window: tuple[datetime, datetime]) -> None:
        sales_start, sales_end = window
        errors = self.deleted_errors() + self.window_errors(sales_start, sales_end)
        expected: Expected = tuple(errors) or (
            UNCHANGED if (sales_start, sales_end) == (self.sales_start, self.sales_end) else CHANGES
        )
        outcome = self.run(
            lambda: self.aggregate.change_sales_window(sales_start, sales_end, "admin"), expected
        )
        if outcome == CHANGES:
            self.sales_start, self.sales_end = sales_start, sales_end

    @rule(
        price=st.one_of(st.none(), PRICES),
        total_stock=st.one_of(st.none(), STOCKS, st.integers(0, 3)),
        window=st.one_of(st.none(), WINDOWS),
        keep=st.sampled_from(["neither", "start", "end"]),
    )
    def update_applies_all_changes_or_none(
        self,
        price: Any,
        total_stock: Any,
        window: tuple[datetime, datetime] | None,
        keep: str,
    ) -> None:
        """Several admin changes at once: each refusal reason refuses the lot."""
        sales_start, sales_end = window or (None, None)
        if keep == "start":
            sales_start = None
        elif keep == "end":
            sales_end = None
        start, end = sales_start or self.sales_start, sales_end or self.sales_end
        errors = self.deleted_errors() + self.window_errors(start, end)
        if price is not None:
            errors += self.price_errors(price)
        if total_stock is not None:
            errors += self.stock_errors(total_stock)
        changes = [
            price is not None and price != self.price,
            total_stock is not None and total_stock != self.total_stock,
            (start, end) != (self.sales_start, self.sales_end),
        ]
        expected: Expected = tuple(errors) or (CHANGES if any(changes) else UNCHANGED)
        outcome = self.run(
            lambda: self.aggregate.update(
                "admin",
                price=price,
                total_stock=total_stock,
                sales_start=sales_start,
                sales_end=sales_end,
            ),
            expected,
            events=sum(changes),
        )
        if outcome == CHANGES:
            if price is not None:
                self.price = price
            if total_stock is not None:
                self.total_stock = total_stock
            self.sales_start, self.sales_end = start, end

    @rule(concert_active=st.sampled_from([True, True, False]))
    def note_concert_status(self, concert_active: bool) -> None:
        expected = UNCHANGED if concert_active == self.concert_active else CHANGES
        outcome = self.run(lambda: self.aggregate.note_concert_status(concert_active), expected)
        if outcome == CHANGES:
            self.concert_active = concert_active

    @precondition(lambda self: self.may_delete or self.ever_held)
    @rule()
    def delete(self) -> None:
        errors: list[type[TicketingError]] = []
        if self.deleted:
            errors.append(NotFoundError)
        if self.ever_held:
            errors.append(InvalidValueError)
        outcome = self.run(lambda: self.aggregate.delete("admin"), tuple(errors) or CHANGES)
        if outcome == CHANGES:
            self.deleted = True

    # -- storage --------------------------------------------------------------------------------

    @rule()
    def snapshot_survives_the_stored_event_mapper(self) -> None:
        self.check_snapshot_round_trip()

    def check_snapshot_round_trip(self) -> None:
        snapshot = TicketType.Snapshot.take(self.aggregate)
        assert vars(through_mapper(snapshot).mutate(None)) == vars(self.aggregate)

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def never_more_sold_and_held_than_the_stock(self) -> None:
        ticket_type = self.aggregate
        assert ticket_type.sold + ticket_type.held <= ticket_type.total_stock
        assert ticket_type.remaining >= 0
        assert ticket_type.sold >= 0
        assert ticket_type.held >= 0

    @invariant()
    def counters_agree_with_the_holds_and_sales_by_order(self) -> None:
        ticket_type = self.aggregate
        assert ticket_type.held == sum(hold.quantity for hold in ticket_type.holds.values())
        assert ticket_type.sold == sum(ticket_type.sold_by_order.values())
        assert not ticket_type.holds.keys() & ticket_type.sold_by_order.keys()
        assert not ticket_type.ended_holds.keys() & ticket_type.holds.keys()
        assert not ticket_type.ended_holds.keys() & ticket_type.sold_by_order.keys()

    @invariant()
    def aggregate_agrees_with_the_model(self) -> None:
        ticket_type = self.aggregate
        assert ticket_type.holds == self.holds
        assert ticket_type.sold_by_order == self.sold
        assert ticket_type.ended_holds == self.ended
        assert ticket_type.total_stock == self.total_stock
        assert ticket_type.remaining == self.remaining
        assert ticket_type.price == self.price
        assert (ticket_type.sales_start, ticket_type.sales_end) == (
            self.sales_start,
            self.sales_end,
        )
        assert ticket_type.concert_active == self.concert_active
        assert ticket_type.deleted == self.deleted
        assert ticket_type.ever_held == self.ever_held
        assert ticket_type.is_on_sale(self.now) == (
            not self.deleted and self.on_sale_now() and self.remaining > 0
        )

    @invariant()
    def every_change_was_recorded_as_one_event(self) -> None:
        assert self.aggregate.version == len(self.events)
        assert self.aggregate.pending_events == []
        versions = [event.originator_version for event in self.events]
        assert versions == list(range(1, len(self.events) + 1))

    def teardown(self) -> None:
        if self.ticket_type is None:
            return
        live = vars(self.ticket_type)

        replayed: Any = None
        for event in self.events:
            replayed = event.mutate(replayed)
        assert vars(replayed) == live, "replaying the events did not rebuild the aggregate"

        stored: Any = None
        for event in self.events:
            stored = through_mapper(event).mutate(stored)
        assert vars(stored) == live, "events stored and read back did not rebuild the aggregate"

        self.check_snapshot_round_trip()
        self.check_the_auditors_ledger()

    def check_the_auditors_ledger(self) -> None:
        """The auditor's own fold of the events agrees, and finds a forged oversell."""
        ticket_type = self.aggregate
        audit = fold_ticket_events(self.events, now=self.now)
        assert audit.report.violations == []
        ledger = audit.ledgers[str(ticket_type.id)]
        assert (ledger.sold, ledger.held, ledger.total_stock) == (
            ticket_type.sold,
            ticket_type.held,
            ticket_type.total_stock,
        )
        assert {k: v[0] for k, v in ledger.holds.items()} == {
            k: hold.quantity for k, hold in ticket_type.holds.items()
        }
        assert {k: v[0] for k, v in ledger.sold_by_order.items()} == ticket_type.sold_by_order
        forged = TicketType.Reserved(  # written past the rules, as by hand in the database
            originator_id=ticket_type.id,
            originator_version=ticket_type.version + 1,
            timestamp=self.now,
            order_id="forged",
            quantity=ticket_type.remaining + 1,
            expires_at=self.now + timedelta(minutes=15),
        )
        found = fold_ticket_events([*self.events, forged], now=self.now).report.violations
        assert [(v.check, v.version) for v in found] == [("oversold", ticket_type.version + 1)]


TicketTypeMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)
TestTicketTypeStateMachine = TicketTypeMachine.TestCase
