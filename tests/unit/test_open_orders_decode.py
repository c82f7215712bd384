"""The expiry sweep reads an order's deadline from its stored event as the mapper decodes it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eventsourcing.persistence import StoredEvent

from domain.money import Money
from domain.order import Order
from services.payments.application import Orders
from services.payments.expiry import OpenOrders

NOW = datetime.now(UTC)
HOLD = timedelta(minutes=15)
EAST_AFRICA = timezone(timedelta(hours=3))
ENVS = [
    {"PERSISTENCE_MODULE": "eventsourcing.popo"},
    {
        "PERSISTENCE_MODULE": "eventsourcing.popo",
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    },
]


def new_order(**held: object) -> Order:
    return Order(
        id=uuid.uuid4(), event_id=uuid.uuid4(), ticket_id=uuid.uuid4(), quantity=2,
        email="fan@example.com", phone_number="+254712345678",
        unit_price=Money.parse("25.00", "KES"), request_fingerprint="f" * 64, **held,
    )  # fmt: skip


def stored_deadline_events(orders: Orders) -> list[StoredEvent]:
    """Every kind of event that sets a deadline, encoded by the application's own mapper."""
    placed_then_held = new_order()
    placed_then_held.mark_held(datetime(2026, 11, 26, 7, 0, 0, 1, EAST_AFRICA))
    events = [
        *placed_then_held.collect_events(),  # Placed (no hold), then Held
        *new_order(hold_expires_at=NOW + HOLD).collect_events(),  # a rush's one event
        *new_order(
            hold_expires_at=datetime(2026, 11, 26, 4, 0, tzinfo=EAST_AFRICA),
            payment_ref="pay_1",
            checkout_url="https://pay.example/1",
        ).collect_events(),
    ]
    return [orders.mapper.to_stored_event(event) for event in events]


def without_hold_fields(stored: StoredEvent) -> StoredEvent:
    """A Placed event as stored before it could carry a hold and a payment."""
    state = json.loads(stored.state)
    for name in ("hold_expires_at", "payment_ref", "checkout_url"):
        del state[name]
    return StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode()
    )


def decoded_deadline(orders: Orders, stored: StoredEvent) -> datetime:
    """The order's deadline as the order itself, rebuilt by the mapper, says it."""
    event = orders.mapper.to_domain_event(stored)
    if type(event).__qualname__ == "Order.Held":
        return event.expires_at
    order = event.mutate(None)
    return order.hold_expires_at or order.created_on + HOLD


@pytest.mark.parametrize("env", ENVS)
def test_a_deadline_reads_the_same_as_the_mappers_decode(env):
    orders = Orders(env=env)
    open_orders = OpenOrders(orders, HOLD)
    assert open_orders.plain_json == ("COMPRESSOR_TOPIC" not in env)
    stored = stored_deadline_events(orders)
    assert len(stored) == 4
    if open_orders.plain_json:
        stored.append(without_hold_fields(stored[0]))
    deadlines = [open_orders.deadline_of(event) for event in stored]
    assert deadlines == [decoded_deadline(orders, event) for event in stored]
    assert [d.utcoffset() for d in deadlines] == [
        decoded_deadline(orders, event).utcoffset() for event in stored
    ]
    placed, held, at_once, with_payment = deadlines[:4]
    assert held == datetime(2026, 11, 26, 7, 0, 0, 1, EAST_AFRICA)
    assert placed == orders.mapper.to_domain_event(stored[0]).timestamp + HOLD
    assert at_once == NOW + HOLD
    assert with_payment == datetime(2026, 11, 26, 4, 0, tzinfo=EAST_AFRICA)
    if open_orders.plain_json:
        assert deadlines[4] == placed  # read from the timestamp, as before holds were in it
