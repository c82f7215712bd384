"""Rendering rules of the read models, without Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from domain.money import Money
from domain.order import Order, OrderStatus
from projections.documents import cheapest, next_boundary, on_sale, render_concert
from projections.insights import (
    add_contribution,
    amount,
    apply_order_change,
    empty_counters,
    main_currency,
    render_totals,
)
from projections.keys import listing_member
from projections.projectors import order_change
from projections.state import empty_orders_state
from query_api.http import matches, parse_moment
from query_api.read_models import decode_cursor, encode_cursor
from services.common.http_problems import ProblemError

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def a_ticket(**changes) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "event_id": "e",
        "category": "VIP",
        "price": 4550,
        "currency": "KES",
        "total_stock": 10,
        "sold": 0,
        "held": 0,
        "sales_start": (NOW - timedelta(hours=1)).isoformat(),
        "sales_end": (NOW + timedelta(hours=1)).isoformat(),
        "concert_active": True,
        "deleted": False,
    } | changes


def a_concert(status: str = "active", ticket_ids=()) -> dict:
    return {
        "id": "e",
        "title": "Sauti Sol",
        "description": "Tour",
        "location": "Nairobi",
        "date_time": (NOW + timedelta(days=3)).isoformat(),
        "status": status,
        "created_by": "admin-1",
        "ticket_ids": list(ticket_ids),
        "deleted": False,
    }


def test_amounts_have_exactly_two_places():
    assert [amount(0), amount(5), amount(4550), amount(-150)] == ["0.00", "0.05", "45.50", "-1.50"]


def test_a_ticket_is_on_sale_from_the_window_start_until_just_before_its_end():
    ticket = a_ticket(sales_start=NOW.isoformat(), sales_end=(NOW + timedelta(hours=1)).isoformat())
    assert on_sale(ticket, NOW)
    assert not on_sale(ticket, NOW - timedelta(microseconds=1))
    assert not on_sale(ticket, NOW + timedelta(hours=1))


def test_a_ticket_is_not_on_sale_when_sold_out_or_its_concert_is_not_active():
    assert not on_sale(a_ticket(sold=7, held=3), NOW)
    assert not on_sale(a_ticket(concert_active=False), NOW)


def test_the_next_boundary_is_the_nearest_window_edge_still_ahead():
    soon = a_ticket(sales_start=(NOW + timedelta(minutes=5)).isoformat())
    assert next_boundary([a_ticket(), soon], NOW) == NOW + timedelta(minutes=5)
    assert next_boundary([a_ticket()], NOW + timedelta(days=1)) is None


def test_the_cheapest_ticket_is_chosen_in_the_first_tickets_currency():
    tickets = [a_ticket(price=3000), a_ticket(price=100, currency="USD"), a_ticket(price=2000)]
    assert cheapest(tickets)["price"] == 2000
    assert cheapest([]) is None


def test_an_inactive_concert_has_admin_documents_but_no_public_ones():
    ticket = a_ticket()
    documents = render_concert(a_concert("inactive", [ticket["id"]]), [ticket], NOW)
    assert (documents.event, documents.tickets) == (None, None)
    assert orjson.loads(documents.admin)["tickets"][0]["sold"] == 0


def test_listing_members_sort_like_the_moments_whatever_their_offset():
    nairobi = timezone(timedelta(hours=3))
    early = listing_member(datetime(2027, 3, 1, 20, 0, tzinfo=nairobi).isoformat(), "b")
    late = listing_member(datetime(2027, 3, 1, 18, 0, tzinfo=UTC).isoformat(), "a")
    assert early < late


def an_order(quantity: int = 2) -> Order:
    return Order(
        id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        ticket_id=uuid.uuid4(),
        quantity=quantity,
        email="buyer@example.com",
        phone_number="+254712345678",
        unit_price=Money(2500, "USD"),
        request_fingerprint="f",
    )


def test_order_changes_move_orders_between_buckets_and_revenue_with_payment():
    order = an_order()
    placed = order_change(1, None, order)
    assert (placed.left, placed.entered, placed.revenue) == (None, "pending", 0)
    order.mark_held(NOW + timedelta(minutes=15))
    assert order_change(2, OrderStatus.PLACED, order) is None
    order.attach_payment("pay-1", "https://pay.example/c")
    order.mark_paid("pay-1", NOW + timedelta(seconds=42))
    paid = order_change(4, OrderStatus.PENDING, order)
    assert (paid.left, paid.entered, paid.quantity, paid.revenue) == ("pending", "paid", 2, 5000)
    assert paid.minute == "2027-03-01T12:00:00+00:00"
    order.mark_refunded("changed their mind")
    refunded = order_change(5, OrderStatus.PAID, order)
    assert (refunded.left, refunded.entered, refunded.revenue) == ("paid", None, -5000)


def test_a_refund_takes_its_sale_out_of_the_minute_it_was_paid_in():
    order = an_order()
    order.mark_held(NOW + timedelta(minutes=15))
    order.attach_payment("pay-1", "https://pay.example/c")
    order.mark_paid("pay-1", NOW)
    state = empty_orders_state()
    apply_order_change(state, order_change(1, None, order))
    order.mark_refunded("refund")
    apply_order_change(state, order_change(2, OrderStatus.PAID, order))
    assert state["orders"] == {"paid": 0, "pending": 0, "failed": 0, "expired": 0}
    assert state["minutes"] == {}


def test_totals_speak_the_currency_most_events_are_priced_in():
    counters = empty_counters()
    for currency, revenue in (("KES", 900_000), ("USD", 100), ("USD", 0)):
        add_contribution(
            counters,
            {
                "currency": currency,
                "tickets_sold": 1,
                "orders": {"paid": 1, "pending": 0, "failed": 0, "expired": 0},
                "revenue": {currency: revenue} if revenue else {},
            },
            1,
        )
    assert main_currency(counters) == "USD"
    totals = orjson.loads(render_totals(counters))
    assert (totals["currency"], totals["revenue"], totals["tickets_sold"]) == ("USD", "1.00", 3)
    assert totals["revenue_by_currency"] == {"KES": "9000.00", "USD": "1.00"}


def test_cursors_round_trip_and_foreign_ones_are_refused():
    member = b"20270301T120000000000|6c6bef95-37e6-466b-9df8-117a31cfb316"
    assert decode_cursor(encode_cursor(member)) == member
    assert decode_cursor("bm90IGEgbWVtYmVy") is None
    assert decode_cursor("%%%") is None


def test_if_none_match_compares_weakly_and_accepts_lists_and_a_star():
    assert matches('W/"a", "b"', '"a"')
    assert matches("*", '"a"')
    assert not matches('"b"', '"a"')
    assert not matches(None, '"a"')


def test_dates_in_queries_cover_whole_days_and_times_need_an_offset():
    assert parse_moment("to", "2027-03-01", end_of_day=True) == datetime(
        2027, 3, 1, 23, 59, 59, 999999, tzinfo=UTC
    )
    assert parse_moment("from", "2027-03-01T12:00:00Z", end_of_day=False) == NOW
    with pytest.raises(ProblemError):
        parse_moment("from", "2027-03-01T12:00:00", end_of_day=False)
