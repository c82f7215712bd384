"""The tickets and payments Applications on both event stores: embedded SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.concert import ConcertStatus
from domain.errors import (
    HasSalesError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    NotFoundError,
    NotOnSaleError,
    SoldOutError,
    StockBelowCommittedError,
)
from domain.money import Money
from domain.order import OrderStatus
from domain.ticket_type import Hold
from services.common.settings import Settings
from services.payments.application import Orders
from services.tickets.application import Tickets

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request, tmp_path):
    """The event-store environment of one service, on each kind of store."""
    if request.param == "sqlite":
        return Settings(ticketing_data_dir=tmp_path).event_store_env("tickets")
    return request.getfixturevalue("pg_env")


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def tickets(store_env, clock):
    app = Tickets(env=store_env, clock=clock)
    yield app
    app.close()


def a_concert_with_tickets(tickets: Tickets, stock: int = 10) -> tuple[uuid.UUID, uuid.UUID]:
    concert_id = tickets.create_concert(
        "Sauti Sol", "Farewell tour", "Nairobi", NOW + timedelta(days=30), "admin-1"
    )
    ticket_type_id = tickets.add_ticket_type(
        concert_id,
        "VIP",
        Money.parse("45.50", "KES"),
        stock,
        NOW - timedelta(days=1),
        NOW + timedelta(days=10),
        "admin-1",
    )
    return concert_id, ticket_type_id


def test_a_new_concert_is_inactive_and_its_tickets_are_not_on_sale(tickets):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets)
    assert tickets.get_concert(concert_id).status is ConcertStatus.INACTIVE
    assert not tickets.get_ticket_type(ticket_type_id).is_on_sale(NOW)
    with pytest.raises(NotOnSaleError):
        tickets.reserve(ticket_type_id, uuid.uuid4(), 1, NOW + timedelta(minutes=15))


def test_activating_a_concert_puts_its_tickets_on_sale_and_state_survives_a_reload(
    tickets, store_env, clock
):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets)
    tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    order_id = uuid.uuid4()
    tickets.reserve(ticket_type_id, order_id, 3, NOW + timedelta(minutes=15))

    reloaded = Tickets(env=store_env, clock=clock)
    ticket_type = reloaded.get_ticket_type(ticket_type_id)
    assert ticket_type.is_on_sale(NOW)
    assert ticket_type.remaining == 7
    assert ticket_type.holds == {str(order_id): Hold(3, NOW + timedelta(minutes=15))}
    assert ticket_type.price == Money(4550, "KES")
    assert reloaded.get_concert(concert_id).status is ConcertStatus.ACTIVE
    reloaded.close()


def test_deactivating_a_concert_stops_sales_and_cancelling_is_final(tickets):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets)
    tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    tickets.change_concert_status(concert_id, ConcertStatus.INACTIVE, "admin-1")
    assert not tickets.get_ticket_type(ticket_type_id).is_on_sale(NOW)
    tickets.change_concert_status(concert_id, ConcertStatus.CANCELLED, "admin-1")
    with pytest.raises(InvalidTransitionError):
        tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    with pytest.raises(InvalidTransitionError):
        tickets.update_concert(concert_id, "admin-1", title="Back again")
    assert tickets.get_concert(concert_id).status is ConcertStatus.CANCELLED


def test_a_concert_that_never_held_a_ticket_can_be_deleted_and_is_then_not_found(tickets):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets)
    tickets.delete_concert(concert_id, "admin-1")
    with pytest.raises(NotFoundError):
        tickets.get_concert(concert_id)
    with pytest.raises(NotFoundError):
        tickets.get_ticket_type(ticket_type_id)


def test_a_concert_whose_tickets_were_held_cannot_be_deleted(tickets):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets)
    tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    order_id = uuid.uuid4()
    tickets.reserve(ticket_type_id, order_id, 1, NOW + timedelta(minutes=15))
    tickets.release(ticket_type_id, order_id)
    with pytest.raises(HasSalesError):
        tickets.delete_concert(concert_id, "admin-1")
    assert tickets.get_concert(concert_id).ticket_type_ids == [ticket_type_id]


def test_stock_cannot_drop_below_what_is_sold_and_held(tickets):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets, stock=10)
    tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    paid, held = uuid.uuid4(), uuid.uuid4()
    tickets.reserve(ticket_type_id, paid, 4, NOW + timedelta(minutes=15))
    tickets.confirm(ticket_type_id, paid)
    tickets.reserve(ticket_type_id, held, 3, NOW + timedelta(minutes=15))
    with pytest.raises(StockBelowCommittedError):
        tickets.update_ticket_type(ticket_type_id, "admin-1", total_stock=6)
    ticket_type = tickets.update_ticket_type(ticket_type_id, "admin-1", total_stock=7)
    assert (ticket_type.sold, ticket_type.held, ticket_type.remaining) == (4, 3, 0)
    with pytest.raises(SoldOutError):
        tickets.reserve(ticket_type_id, uuid.uuid4(), 1, NOW + timedelta(minutes=15))


def test_a_hold_expires_only_after_its_expiry_and_gives_the_tickets_back(tickets, clock):
    concert_id, ticket_type_id = a_concert_with_tickets(tickets, stock=2)
    tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    order_id = uuid.uuid4()
    tickets.reserve(ticket_type_id, order_id, 2, NOW + timedelta(minutes=15))
    with pytest.raises(Exception, match="runs until"):
        tickets.expire(ticket_type_id, order_id)
    clock.now = NOW + timedelta(minutes=15)
    assert tickets.expire(ticket_type_id, order_id).remaining == 2
    assert tickets.expire(ticket_type_id, order_id).remaining == 2


@pytest.fixture
def orders(store_env, clock):
    app = Orders(env=store_env, clock=clock)
    yield app
    app.close()


def test_placing_an_order_twice_with_one_key_returns_the_same_order(orders):
    event_id, ticket_id = uuid.uuid4(), uuid.uuid4()
    first, created = orders.place_order(
        "key-0001-abcd",
        event_id,
        ticket_id,
        2,
        "Buyer@Example.com",
        "+254712345678",
        Money.parse("45.50", "KES"),
    )
    again, created_again = orders.place_order(
        "key-0001-abcd",
        event_id,
        ticket_id,
        2,
        "buyer@example.com",
        "+254712345678",
        Money.parse("45.50", "KES"),
    )
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert again.total_amount == Money(9100, "KES")
    with pytest.raises(IdempotencyKeyReusedError):
        orders.place_order(
            "key-0001-abcd",
            event_id,
            ticket_id,
            3,
            "buyer@example.com",
            "+254712345678",
            Money.parse("45.50", "KES"),
        )


def test_an_order_goes_from_held_to_paid_to_refunded(orders, clock):
    order, _ = orders.place_order(
        "key-0002-abcd",
        uuid.uuid4(),
        uuid.uuid4(),
        1,
        "a@example.com",
        "+14155550123",
        Money.parse("10.00", "USD"),
    )
    orders.mark_held(order.id, NOW + timedelta(minutes=15))
    orders.attach_payment(order.id, "pay_123", "http://127.0.0.1:8000/sandbox/checkout/pay_123")
    orders.mark_paid(order.id, "pay_123", NOW + timedelta(minutes=2))
    assert orders.mark_paid(order.id, "pay_123", NOW + timedelta(minutes=3)).status is (
        OrderStatus.PAID
    )
    with pytest.raises(InvalidTransitionError):
        orders.mark_expired(order.id)
    refunded = orders.mark_refunded(order.id, "customer asked")
    assert refunded.status is OrderStatus.REFUNDED
    assert orders.get_order(order.id).paid_at == NOW + timedelta(minutes=2)
