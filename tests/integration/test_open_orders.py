"""The payments expiry sweep's list of open orders, read from the orders log (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.money import Money
from domain.order import Order
from services.common.settings import Settings
from services.payments.application import Orders
from services.payments.expiry import OpenOrders

HOLD = timedelta(minutes=15)


@pytest.fixture
def orders(tmp_path, fresh_database_url):
    orders = Orders(
        env=Settings(ticketing_data_dir=tmp_path, database_url=fresh_database_url)
        .event_store_env("payments")
    )  # fmt: skip
    yield orders
    orders.close()


def new_order(**held: object) -> Order:
    return Order(
        id=uuid.uuid4(), event_id=uuid.uuid4(), ticket_id=uuid.uuid4(), quantity=1,
        email="fan@example.com", phone_number="+254712345678",
        unit_price=Money.parse("25.00", "USD"), request_fingerprint="f", **held,
    )  # fmt: skip


def test_each_open_order_is_due_at_its_last_deadline_and_ended_ones_never(orders):
    held_until = datetime.now(UTC) + timedelta(minutes=3)
    held = new_order()  # placed and held in one save
    held.mark_held(held_until)
    # Placed already held, with its payment: one event, as a rush's new order is.
    at_once = new_order(
        hold_expires_at=held_until + timedelta(seconds=30),
        payment_ref="pay_1",
        checkout_url="https://pay.example/1",
    )
    placed_only = new_order()  # recorded before its hold (the hold's answer was lost)
    refused_order = new_order()  # placed and rejected in one save
    refused_order.reject("sold_out")
    later = new_order()  # held in a later save than its placing
    orders.save(held, at_once, placed_only, refused_order, later)
    later.mark_held(held_until + timedelta(minutes=1))
    orders.save(later)

    open_orders = OpenOrders(orders, HOLD)
    open_orders.catch_up()
    assert open_orders.deadlines == {
        held.id: held_until,
        at_once.id: held_until + timedelta(seconds=30),
        placed_only.id: placed_only.created_on + HOLD,
        later.id: held_until + timedelta(minutes=1),
    }
    assert open_orders.due(held_until) == [held.id]
    assert open_orders.due(placed_only.created_on + HOLD) == [
        held.id, at_once.id, later.id, placed_only.id
    ]  # fmt: skip

    held.mark_expired(held_until)
    orders.save(held)
    open_orders.catch_up()
    assert held.id not in open_orders.deadlines
    assert open_orders.due(held_until) == []
