"""Property tests: an Order driven through random lifecycles and checked against a model.

The allowed moves are placed→pending (held), placed→rejected, pending→paid, pending→failed,
pending→expired and paid→refunded. Every other command is refused with a TicketingError and
changes nothing; repeating the move that led to the current status changes nothing. At the end of
every run the emitted events are replayed, directly and through the payments application's
stored-event mapper, and must rebuild the live order.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import (
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    InvalidValueError,
    PaymentMismatchError,
    TicketingError,
)
from domain.money import Money
from domain.order import MAX_TICKETS_PER_ORDER, Order, OrderStatus, order_id_for
from services.payments.application import Orders

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PLACED, REJECTED, PENDING = OrderStatus.PLACED, OrderStatus.REJECTED, OrderStatus.PENDING
PAID, FAILED, EXPIRED = OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.EXPIRED
REFUNDED = OrderStatus.REFUNDED
ALLOWED_MOVES = {
    (PLACED, PENDING),
    (PLACED, REJECTED),
    (PENDING, PAID),
    (PENDING, FAILED),
    (PENDING, EXPIRED),
    (PAID, REFUNDED),
}
TERMINAL = {REJECTED, FAILED, EXPIRED, REFUNDED}

# What the domain means by a valid address and phone number, matched against the whole text.
VALID_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
VALID_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")

ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=3)),
        timezone(timedelta(hours=-5, minutes=-30)),
        timezone(timedelta(hours=5, minutes=45)),
    ]
)
SPANS = st.timedeltas(min_value=timedelta(minutes=-30), max_value=timedelta(hours=2))
LATENESS = st.one_of(
    st.none(),
    st.sampled_from([timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1)]),
    st.timedeltas(min_value=timedelta(minutes=-5), max_value=timedelta(minutes=5)),
)
SOMETIMES = st.sampled_from([False, False, False, False, False, True])
PAYMENT_REFS = st.sampled_from(["pay_1", "pay_2", ""])
CHECKOUT_URLS = st.sampled_from(["https://pay.example/1", "https://pay.example/2"])
REASONS = st.sampled_from(["declined", "sold out", "customer asked", ""])

# How a run's order begins: the last two are placed already held, in one Placed event, as a
# rush's new orders are.
STARTS = [
    "placed", "held", "held", "held with a payment", "placed held", "placed held with a payment"
]  # fmt: skip

CHANGES = "changes"
UNCHANGED = "unchanged"
REFUSED = "refused"

Expected = str | tuple[type[TicketingError], ...]

LOCAL_PART = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-"
emails = st.builds(
    "{}@{}.{}".format,
    st.text(LOCAL_PART, min_size=1, max_size=20),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=15),
    st.sampled_from(["com", "co.ke", "org", "io"]),
)
phones = st.from_regex(VALID_PHONE, fullmatch=True)
keys = st.text(min_size=1, max_size=40)


@cache
def orders_app() -> Orders:
    """The payments application, for its stored-event mapper and transcodings only."""
    return Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def through_mapper(event: Any) -> Any:
    """The event as it comes back after being stored with the application's transcodings."""
    mapper = orders_app().mapper
    return mapper.to_domain_event(mapper.to_stored_event(event))


def place(**overrides: Any) -> Order:
    """An order with valid details, except for those given."""
    details: dict[str, Any] = {
        "id": uuid4(),
        "event_id": uuid4(),
        "ticket_id": uuid4(),
        "quantity": 2,
        "email": "buyer@example.com",
        "phone_number": "+254712345678",
        "unit_price": Money(2500, "KES"),
        "request_fingerprint": "f" * 64,
    }
    details.update(overrides)
    return Order(**details)


class OrderMachine(RuleBasedStateMachine):
    """One Order, a clock, and a model of its lifecycle."""

    def __init__(self) -> None:
        super().__init__()
        self.order: Order | None = None
        self.events: list[Any] = []

    @initialize(
        key=keys,
        email=emails,
        phone_number=phones,
        quantity=st.integers(1, MAX_TICKETS_PER_ORDER),
        unit_price=st.integers(0, 10**9),
        currency=st.sampled_from(["KES", "USD"]),
        start=st.sampled_from(STARTS),
        hold_span=SPANS,
    )
    def place_order(
        self,
        key: str,
        email: str,
        phone_number: str,
        quantity: int,
        unit_price: int,
        currency: str,
        start: str,
        hold_span: timedelta,
    ) -> None:
        """A new order; most runs also hold it (and some attach a payment) to reach later moves."""
        self.unit_price = Money(unit_price, currency)
        self.fingerprint = uuid4().hex
        self.now = T0
        self.status = PLACED
        self.hold_expires_at: datetime | None = None
        self.payment_ref: str | None = None
        self.checkout_url: str | None = None
        self.paid_at: datetime | None = None
        self.failure_reason: str | None = None
        self.first_terminal: OrderStatus | None = None
        held_at_once: dict[str, Any] = {}
        if start.startswith("placed held"):
            self.status, self.hold_expires_at = PENDING, self.now + hold_span
            held_at_once["hold_expires_at"] = self.hold_expires_at
        if start == "placed held with a payment":
            self.payment_ref, self.checkout_url = "pay_1", "https://pay.example/1"
            held_at_once |= {"payment_ref": "pay_1", "checkout_url": "https://pay.example/1"}
        self.order = place(
            id=order_id_for(key, email),
            quantity=quantity,
            email=email,
            phone_number=phone_number,
            unit_price=self.unit_price,
            request_fingerprint=self.fingerprint,
            **held_at_once,
        )
        self.events.extend(self.order.collect_events())
        assert len(self.events) == 1
        if start in ("held", "held with a payment"):
            assert self.do_mark_held(self.now + hold_span) == CHANGES
        if start == "held with a payment":
            assert self.do_attach_payment("pay_1", "https://pay.example/1") == CHANGES

    @property
    def aggregate(self) -> Order:
        assert self.order is not None
        return self.order

    def run(self, command: Callable[[], None], expected: Expected) -> str:
        """Run one command and check its outcome (and its effect on version) against the model."""
        before = copy.deepcopy(vars(self.aggregate))
        version = self.aggregate.version
        status = self.aggregate.status
        refusal: TicketingError | None = None
        try:
            command()
        except TicketingError as error:
            refusal = error
        if refusal is not None:
            assert isinstance(expected, tuple), f"refused with {refusal!r}; model says {expected}"
            assert isinstance(refusal, expected), f"refused with {refusal!r}, not {expected}"
            assert self.aggregate.version == version
            assert vars(self.aggregate) == before, "a refused command changed the order"
            return REFUSED
        assert not isinstance(expected, tuple), f"accepted; the model expected one of {expected}"
        if expected == UNCHANGED:
            assert self.aggregate.version == version
            assert vars(self.aggregate) == before, "a repeated command changed the order"
            assert self.aggregate.collect_events() == []
            return UNCHANGED
        assert self.aggregate.version == version + 1
        new_events = self.aggregate.collect_events()
        assert len(new_events) == 1
        self.events.extend(new_events)
        if self.aggregate.status != status:
            assert (status, self.aggregate.status) in ALLOWED_MOVES
        return CHANGES

    def move_errors(self, *allowed: OrderStatus) -> list[type[TicketingError]]:
        return [] if self.status in allowed else [InvalidTransitionError]

    # -- the clock ------------------------------------------------------------------------------

    @rule(span=SPANS)
    def set_the_clock(self, span: timedelta) -> None:
        self.now = T0 + span

    # -- commands -------------------------------------------------------------------------------

    def do_mark_held(self, expires_at: datetime) -> str:
        expected: Expected
        if self.status is PENDING and self.hold_expires_at == expires_at:
            expected = UNCHANGED
        else:
            errors = self.move_errors(PLACED)
            if expires_at.utcoffset() is None:
                errors.append(InvalidValueError)
            expected = tuple(errors) or CHANGES
        outcome = self.run(lambda: self.aggregate.mark_held(expires_at), expected)
        if outcome == CHANGES:
            self.status, self.hold_expires_at = PENDING, expires_at
        return outcome

    @rule(span=SPANS, zone=ZONES, naive=SOMETIMES)
    def mark_held(self, span: timedelta, zone: timezone, naive: bool) -> None:
        expires_at = (self.now + span).astimezone(zone)
        self.do_mark_held(expires_at.replace(tzinfo=None) if naive else expires_at)

    @rule(span=SPANS, zone=ZONES)
    def mark_held_repeated_with_the_same_expiry_changes_nothing(
        self, span: timedelta, zone: timezone
    ) -> None:
        expires_at = (self.now + span).astimezone(zone)
        first = self.do_mark_held(expires_at)
        second = self.do_mark_held(expires_at)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_reject(self, reason: str) -> str:
        expected: Expected
        if self.status is REJECTED:
            expected = UNCHANGED
        else:
            expected = tuple(self.move_errors(PLACED)) or CHANGES
        outcome = self.run(lambda: self.aggregate.reject(reason), expected)
        if outcome == CHANGES:
            self.status, self.failure_reason = REJECTED, reason
        return outcome

    @rule(reason=REASONS)
    def reject(self, reason: str) -> None:
        self.do_reject(reason)

    @rule(reason=REASONS)
    def reject_repeated_changes_nothing(self, reason: str) -> None:
        first = self.do_reject(reason)
        second = self.do_reject(reason)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_attach_payment(self, payment_ref: str, checkout_url: str) -> str:
        expected: Expected
        if (self.payment_ref, self.checkout_url) == (payment_ref, checkout_url):
            expected = UNCHANGED
        else:
            errors = self.move_errors(PENDING)
            if self.payment_ref is not None:
                errors.append(PaymentMismatchError)
            if not payment_ref:
                errors.append(InvalidValueError)
            expected = tuple(errors) or CHANGES
        outcome = self.run(
            lambda: self.aggregate.attach_payment(payment_ref, checkout_url), expected
        )
        if outcome == CHANGES:
            self.payment_ref, self.checkout_url = payment_ref, checkout_url
        return outcome

    @rule(payment_ref=PAYMENT_REFS, checkout_url=CHECKOUT_URLS)
    def attach_payment(self, payment_ref: str, checkout_url: str) -> None:
        self.do_attach_payment(payment_ref, checkout_url)

    @rule(payment_ref=PAYMENT_REFS, checkout_url=CHECKOUT_URLS)
    def attach_payment_repeated_with_the_same_ref_changes_nothing(
        self, payment_ref: str, checkout_url: str
    ) -> None:
        first = self.do_attach_payment(payment_ref, checkout_url)
        second = self.do_attach_payment(payment_ref, checkout_url)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_mark_paid(self, payment_ref: str, paid_at: datetime) -> str:
        expected: Expected
        wrong_ref = self.payment_ref is not None and payment_ref != self.payment_ref
        if self.status is PAID and not wrong_ref:
            expected = UNCHANGED
        else:
            errors = self.move_errors(PENDING, PAID)
            if wrong_ref or self.payment_ref is None:
                errors.append(PaymentMismatchError)
            if paid_at.utcoffset() is None:
                errors.append(InvalidValueError)
            expected = tuple(errors) or CHANGES
        outcome = self.run(lambda: self.aggregate.mark_paid(payment_ref, paid_at), expected)
        if outcome == CHANGES:
            self.status, self.paid_at = PAID, paid_at
        return outcome

    @rule(
        which=st.sampled_from(["attached", "attached", "other"]),
        other=PAYMENT_REFS,
        zone=ZONES,
        naive=SOMETIMES,
    )
    def mark_paid(self, which: str, other: str, zone: timezone, naive: bool) -> None:
        """Paid with the attached ref, another ref, or (none attached yet) any ref."""
        payment_ref = self.payment_ref if which == "attached" and self.payment_ref else other
        paid_at = self.now.astimezone(zone)
        self.do_mark_paid(payment_ref, paid_at.replace(tzinfo=None) if naive else paid_at)

    @rule(which=st.sampled_from(["attached", "other"]), other=PAYMENT_REFS, later=SPANS)
    def mark_paid_repeated_changes_nothing(self, which: str, other: str, later: timedelta) -> None:
        payment_ref = self.payment_ref if which == "attached" and self.payment_ref else other
        first = self.do_mark_paid(payment_ref, self.now)
        second = self.do_mark_paid(payment_ref, self.now + later)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_mark_failed(self, reason: str) -> str:
        expected: Expected
        if self.status is FAILED:
            expected = UNCHANGED
        else:
            expected = tuple(self.move_errors(PENDING)) or CHANGES
        outcome = self.run(lambda: self.aggregate.mark_failed(reason), expected)
        if outcome == CHANGES:
            self.status, self.failure_reason = FAILED, reason
        return outcome

    @rule(reason=REASONS)
    def mark_failed(self, reason: str) -> None:
        self.do_mark_failed(reason)

    @rule(reason=REASONS)
    def mark_failed_repeated_changes_nothing(self, reason: str) -> None:
        first = self.do_mark_failed(reason)
        second = self.do_mark_failed(reason)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_mark_expired(self, lateness: timedelta | None) -> str:
        """Expire at the clock's time, or (lateness given) that long after the hold's expiry."""
        if lateness is not None and self.hold_expires_at is not None:
            self.now = self.hold_expires_at + lateness
        now = self.now
        expected: Expected
        if self.status is EXPIRED:
            expected = UNCHANGED
        elif self.status is PENDING:
            assert self.hold_expires_at is not None
            expected = CHANGES if now >= self.hold_expires_at else (InvalidTransitionError,)
        else:
            expected = (InvalidTransitionError,)
        outcome = self.run(lambda: self.aggregate.mark_expired(now), expected)
        if outcome == CHANGES:
            self.status = EXPIRED
        return outcome

    @rule(lateness=LATENESS)
    def mark_expired(self, lateness: timedelta | None) -> None:
        self.do_mark_expired(lateness)

    @rule(lateness=LATENESS)
    def mark_expired_repeated_changes_nothing(self, lateness: timedelta | None) -> None:
        first = self.do_mark_expired(lateness)
        second = self.do_mark_expired(None)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    def do_mark_refunded(self, reason: str) -> str:
        expected: Expected
        if self.status is REFUNDED:
            expected = UNCHANGED
        else:
            expected = tuple(self.move_errors(PAID)) or CHANGES
        outcome = self.run(lambda: self.aggregate.mark_refunded(reason), expected)
        if outcome == CHANGES:
            self.status = REFUNDED
        return outcome

    @rule(reason=REASONS)
    def mark_refunded(self, reason: str) -> None:
        self.do_mark_refunded(reason)

    @rule(reason=REASONS)
    def mark_refunded_repeated_changes_nothing(self, reason: str) -> None:
        first = self.do_mark_refunded(reason)
        second = self.do_mark_refunded(reason)
        assert second == (UNCHANGED if first in (CHANGES, UNCHANGED) else REFUSED)

    @rule(same=st.booleans())
    def check_same_request_refuses_only_a_different_request(self, same: bool) -> None:
        fingerprint = self.fingerprint if same else uuid4().hex
        expected = UNCHANGED if same else (IdempotencyKeyReusedError,)
        self.run(lambda: self.aggregate.check_same_request(fingerprint), expected)

    # -- storage --------------------------------------------------------------------------------

    @rule()
    def snapshot_survives_the_stored_event_mapper(self) -> None:
        self.check_snapshot_round_trip()

    def check_snapshot_round_trip(self) -> None:
        snapshot = Order.Snapshot.take(self.aggregate)
        restored = through_mapper(snapshot).mutate(None)
        assert vars(restored) == vars(self.aggregate)
        assert type(restored.status) is OrderStatus

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def status_is_always_an_order_status(self) -> None:
        assert isinstance(self.aggregate.status, OrderStatus)

    @invariant()
    def paid_at_is_set_exactly_when_paid_or_refunded(self) -> None:
        assert (self.aggregate.paid_at is not None) == (self.aggregate.status in {PAID, REFUNDED})

    @invariant()
    def hold_expiry_is_set_exactly_when_the_order_was_held(self) -> None:
        held = self.aggregate.status not in {PLACED, REJECTED}
        assert (self.aggregate.hold_expires_at is not None) == held

    @invariant()
    def total_is_unit_price_times_quantity(self) -> None:
        assert self.aggregate.total_amount == self.unit_price * self.aggregate.quantity

    @invariant()
    def terminal_statuses_never_change(self) -> None:
        if self.first_terminal is None and self.aggregate.status in TERMINAL:
            self.first_terminal = self.aggregate.status
        if self.first_terminal is not None:
            assert self.aggregate.status is self.first_terminal

    @invariant()
    def order_agrees_with_the_model(self) -> None:
        order = self.aggregate
        assert order.status is self.status
        assert order.hold_expires_at == self.hold_expires_at
        assert order.payment_ref == self.payment_ref
        assert order.checkout_url == self.checkout_url
        assert order.paid_at == self.paid_at
        assert order.failure_reason == self.failure_reason
        assert order.version == len(self.events)
        assert order.pending_events == []

    def teardown(self) -> None:
        if self.order is None:
            return
        live = vars(self.order)

        replayed: Any = None
        for event in self.events:
            replayed = event.mutate(replayed)
        assert vars(replayed) == live, "replaying the events did not rebuild the order"

        stored: Any = None
        for event in self.events:
            stored = through_mapper(event).mutate(stored)
        assert vars(stored) == live, "events stored and read back did not rebuild the order"
        assert type(stored.status) is OrderStatus

        self.check_snapshot_round_trip()


OrderMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)
TestOrderStateMachine = OrderMachine.TestCase


# -- construction and identity ------------------------------------------------------------------


@given(quantity=st.sampled_from([0, 11, -1, True, False, 2.0, "2", None]))
def test_an_order_refuses_a_quantity_that_is_not_one_to_ten_whole_tickets(quantity: Any) -> None:
    with pytest.raises(InvalidValueError):
        place(quantity=quantity)


@given(quantity=st.integers(1, MAX_TICKETS_PER_ORDER), unit_price=st.integers(0, 10**9))
def test_an_order_totals_its_unit_price_times_its_quantity(quantity: int, unit_price: int) -> None:
    order = place(quantity=quantity, unit_price=Money(unit_price, "KES"))
    assert order.total_amount == Money(unit_price * quantity, "KES")
    assert order.status is PLACED


@pytest.mark.parametrize(
    "held",
    [
        {"hold_expires_at": T0.replace(tzinfo=None)},  # naive
        {"payment_ref": "pay_1", "checkout_url": "https://pay.example/1"},  # paid, not held
        {"hold_expires_at": T0, "payment_ref": "pay_1"},  # no checkout URL
        {"hold_expires_at": T0, "payment_ref": "", "checkout_url": "https://pay.example/1"},
        {"hold_expires_at": T0, "checkout_url": "https://pay.example/1"},  # no reference
    ],
)
def test_an_order_placed_already_held_refuses_an_incomplete_hold_or_payment(
    held: dict[str, Any],
) -> None:
    with pytest.raises(InvalidValueError):
        place(**held)


def test_a_placed_event_stored_before_holds_were_recorded_in_it_reads_back_as_placed() -> None:
    """Placed events written before they could carry the hold and the payment have no such
    fields in their stored state: the order they rebuild is placed, with neither."""
    order = place(hold_expires_at=T0, payment_ref="pay_1", checkout_url="https://pay.example/1")
    (event,) = order.collect_events()
    mapper = orders_app().mapper
    stored = mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert {"hold_expires_at", "payment_ref", "checkout_url"} <= state.keys()
    for name in ("hold_expires_at", "payment_ref", "checkout_url"):
        del state[name]
    old = StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode()
    )
    rebuilt = mapper.to_domain_event(old).mutate(None)
    assert rebuilt.status is PLACED
    assert (rebuilt.hold_expires_at, rebuilt.payment_ref, rebuilt.checkout_url) == (None,) * 3
    assert rebuilt.total_amount == order.total_amount


bad_emails = st.one_of(
    st.sampled_from(
        [
            "",
            "buyer",
            "buyer@",
            "@example.com",
            "buyer@example",
            "buyer@@example.com",
            "bu yer@example.com",
            "buyer@exa mple.com",
            " buyer@example.com",
            "buyer@example.com ",
            "buyer@example.com\n\n",
            "a@b@example.com",
            "x" * 65 + "@example.com",
            "buyer@" + "x" * 250 + ".com",
        ]
    ),
    # Random text that is not a valid address.
    st.text(max_size=30).filter(lambda text: not VALID_EMAIL.fullmatch(text)),
)


@given(email=bad_emails)
def test_an_order_refuses_an_email_that_is_not_an_address(email: str) -> None:
    with pytest.raises(InvalidValueError):
        place(email=email)


@given(email=st.sampled_from([None, 42, b"buyer@example.com"]))
def test_an_order_refuses_an_email_that_is_not_text(email: Any) -> None:
    with pytest.raises(InvalidValueError):
        place(email=email)


bad_phones = st.one_of(
    st.sampled_from(
        [
            "",
            "+",
            "254712345678",
            "0712345678",
            "+0712345678",
            "+123456",
            "+1234567890123456",
            "+254 712 345678",
            "+254-712-345678",
            "++254712345678",
            " +254712345678",
            "+254712345678 ",
            "+254712345678\n\n",
            "+" + "".join(chr(0xFF10 + int(digit)) for digit in "254712345678"),  # fullwidth
        ]
    ),
    st.text("+0123456789 -()", max_size=20).filter(lambda text: not VALID_PHONE.fullmatch(text)),
    st.text(max_size=20).filter(lambda text: not VALID_PHONE.fullmatch(text)),
)


@given(phone_number=bad_phones)
def test_an_order_refuses_a_phone_number_not_in_e164_form(phone_number: str) -> None:
    with pytest.raises(InvalidValueError):
        place(phone_number=phone_number)


@given(phone_number=st.sampled_from([None, 254712345678]))
def test_an_order_refuses_a_phone_number_that_is_not_text(phone_number: Any) -> None:
    with pytest.raises(InvalidValueError):
        place(phone_number=phone_number)


@given(email=emails, phone_number=phones, field=st.sampled_from(["email", "phone_number"]))
def test_an_order_refuses_an_email_or_phone_number_with_a_trailing_newline(
    email: str, phone_number: str, field: str
) -> None:
    details = {"email": email, "phone_number": phone_number}
    details[field] += "\n"
    with pytest.raises(InvalidValueError):
        place(**details)


@given(email=emails, phone_number=phones)
def test_an_order_accepts_valid_contact_details(email: str, phone_number: str) -> None:
    order = place(email=email, phone_number=phone_number)
    assert (order.email, order.phone_number) == (email, phone_number)


def case_variant(draw: st.DrawFn, text: str) -> str:
    """The text with some letters' case changed (only where that keeps it the same lowered)."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(
        char.swapcase() if flip and char.swapcase().lower() == char.lower() else char
        for char, flip in zip(text, flips, strict=True)
    )


@given(data=st.data(), key=keys, email=emails)
def test_order_id_is_the_same_for_emails_differing_only_in_case_and_outer_spaces(
    data: st.DataObject, key: str, email: str
) -> None:
    variant = case_variant(data.draw, email)
    padded = data.draw(st.sampled_from(["", " ", "\t", "  \n"]))
    variant = padded + variant + data.draw(st.sampled_from(["", " ", "\r\n"]))
    assert order_id_for(key, variant) == order_id_for(key, email)


@given(key=keys, other_key=keys, email=emails)
def test_order_id_differs_for_different_idempotency_keys(
    key: str, other_key: str, email: str
) -> None:
    if key == other_key:
        other_key += "x"
    assert order_id_for(key, email) != order_id_for(other_key, email)


@given(key=keys, email=emails, other_email=emails)
def test_order_id_differs_for_different_email_addresses(
    key: str, email: str, other_email: str
) -> None:
    if email.lower() == other_email.lower():
        other_email = "x" + other_email
    assert order_id_for(key, email) != order_id_for(key, other_email)
