"""Auditing on both event stores: history, state as of a moment, the global log, verification."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from domain.concert import ConcertStatus
from domain.errors import NotFoundError
from domain.money import Money
from domain.order import Order
from services.audit.index import CATCH_UP_CHUNK, merge
from services.audit.service import Audit
from services.common.settings import Settings
from services.payments.application import OrderPlacement, Orders
from services.tickets.application import Tickets

ADMIN = "admin-7f3c"
HOLD = timedelta(minutes=15)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path):
    if request.param == "sqlite":
        return Settings(ticketing_data_dir=tmp_path, database_url=None)
    url = request.getfixturevalue("fresh_database_url")
    return Settings(ticketing_data_dir=tmp_path, database_url=url)


@pytest.fixture
def stores(settings):
    tickets = Tickets(env=settings.event_store_env("tickets"))
    orders = Orders(env=settings.event_store_env("payments"))
    yield tickets, orders
    tickets.close()
    orders.close()


@pytest.fixture
async def audit(settings, stores):
    audit = Audit.open(settings, redis=None)
    yield audit
    audit.close()


class Marks:
    """Moments taken between the steps of a script, so that each step has a known time."""

    def __init__(self) -> None:
        self.at: dict[str, datetime] = {}

    def __call__(self, name: str) -> None:
        time.sleep(0.002)
        self.at[name] = datetime.now(UTC)
        time.sleep(0.002)


def buy(tickets, orders, ticket_id, event_id, quantity, *, pay: bool, key: str):
    order, _ = orders.place_order(
        key, event_id, ticket_id, quantity, f"{key}@example.com", "+254712345678",
        Money(2500, "KES"),
    )  # fmt: skip
    expires = datetime.now(UTC) + HOLD
    tickets.reserve(ticket_id, order.id, quantity, expires)
    orders.mark_held(order.id, expires)
    orders.attach_payment(order.id, f"pay-{key}", f"https://pay.example/{key}")
    if pay:
        tickets.confirm(ticket_id, order.id)
        orders.mark_paid(order.id, f"pay-{key}", datetime.now(UTC))
    return order.id


def a_scripted_sale(tickets, orders, marks):
    """An event with two ticket types, sold in steps with a mark between each."""
    marks("before")
    event_id = tickets.create_concert(
        "Sauti Sol", "Farewell", "Nairobi", datetime(2027, 3, 1, 19, 30, tzinfo=UTC), by=ADMIN
    )
    now = datetime.now(UTC)
    vip = tickets.add_ticket_type(
        event_id, "VIP", Money(2500, "KES"), 10, now - timedelta(hours=1), now + HOLD * 10, ADMIN
    )
    floor = tickets.add_ticket_type(
        event_id, "Floor", Money(1000, "KES"), 5, now - timedelta(hours=1), now + HOLD * 10, ADMIN
    )
    marks("created")
    tickets.change_concert_status(event_id, ConcertStatus.ACTIVE, by=ADMIN)
    marks("active")
    first = buy(tickets, orders, vip, event_id, 3, pay=True, key="first")
    marks("first sale")
    second = buy(tickets, orders, vip, event_id, 2, pay=False, key="second")
    marks("second held")
    tickets.release(vip, second)
    orders.mark_failed(second, "declined")
    tickets.update_ticket_type(vip, by=ADMIN, total_stock=8)
    marks("released and restocked")
    return event_id, vip, floor, first, second


async def test_history_and_state_as_of_follow_a_scripted_sale(stores, audit):
    tickets, orders = stores
    marks = Marks()
    event_id, vip, floor, first, _ = a_scripted_sale(tickets, orders, marks)

    with pytest.raises(NotFoundError):
        await audit.state(event_id, marks.at["before"])

    def vip_at(name):
        return state_at[name]["tickets"][0]

    state_at = {name: await audit.state(event_id, moment) for name, moment in marks.at.items()
                if name != "before"}  # fmt: skip
    assert state_at["created"]["event"]["status"] == "inactive"
    assert [t["category"] for t in state_at["created"]["tickets"]] == ["VIP", "Floor"]
    assert state_at["active"]["event"]["status"] == "active"
    counts = {name: (vip_at(name)["sold"], vip_at(name)["held"], vip_at(name)["total_stock"],
                     vip_at(name)["remaining"]) for name in state_at}  # fmt: skip
    assert counts == {
        "created": (0, 0, 10, 10),
        "active": (0, 0, 10, 10),
        "first sale": (3, 0, 10, 7),
        "second held": (3, 2, 10, 5),
        "released and restocked": (3, 0, 8, 5),
    }
    assert state_at["second held"]["tickets"][1]["remaining"] == 5  # floor untouched
    # The event document is the admin view as it was, sold and held included.
    event_doc = state_at["second held"]["event"]
    assert event_doc["id"] == str(event_id)
    assert event_doc["created_by"] == ADMIN
    assert [(t["sold"], t["held"]) for t in event_doc["tickets"]] == [(3, 2), (0, 0)]

    history = await audit.stream(vip)
    assert history["aggregate_type"] == "TicketType"
    assert [e["version"] for e in history["events"]] == list(range(1, 8))
    assert [e["type"] for e in history["events"]] == [
        "Created", "ConcertStatusNoted", "Reserved", "Confirmed", "Reserved", "Released",
        "StockChanged",
    ]  # fmt: skip
    assert history["events"][2]["data"] == {
        "order_id": str(first),
        "quantity": 3,
        "expires_at": history["events"][2]["data"]["expires_at"],
    }
    # Who did what: the admin's subject is on every admin action.
    assert history["events"][0]["actor"] == ADMIN
    assert history["events"][0]["data"]["price"] == {"amount": "25.00", "currency": "KES"}
    assert history["events"][-1]["actor"] == ADMIN
    concert = await audit.stream(event_id)
    assert [(e["type"], e["actor"]) for e in concert["events"]] == [
        ("Created", ADMIN), ("TicketTypeAdded", ADMIN), ("TicketTypeAdded", ADMIN),
        ("StatusChanged", ADMIN),
    ]  # fmt: skip
    assert concert["events"][-1]["data"]["status"] == "active"
    order = await audit.stream(first)
    assert [e["type"] for e in order["events"]] == ["Placed", "Held", "PaymentAttached", "Paid"]
    assert order["service"] == "payments"
    with pytest.raises(NotFoundError):
        await audit.stream(uuid.uuid4())
    assert floor in {uuid.UUID(t["ticket_id"]) for t in state_at["active"]["tickets"]}


async def test_the_global_log_holds_every_event_once_and_pages_exactly(stores, audit):
    tickets, orders = stores
    first = str(a_scripted_sale(tickets, orders, Marks())[3])
    everything = []
    after = 0
    while True:
        page = await audit.log(after, 7)
        everything += page.items
        if page.next_after is None:
            break
        after = page.next_after
    positions = [position for position, _ in everything]
    assert positions == list(range(1, len(everything) + 1))
    per_log = {"tickets": [], "payments": []}
    for _, event in everything:
        per_log[event.log].append(event.notification_id)
    # Each service's events appear once each, in its own commit order.
    for log, ids in per_log.items():
        assert ids == list(range(1, audit.sources.head(log) + 1)), log
    # Across services, the interleaving follows the events' times: one order's saga reads
    # in the order it happened, although its steps are in two services' logs.
    steps = [
        (event.log, event.type)
        for _, event in everything
        if first in {event.aggregate_id, event.data.get("order_id")}
    ]
    assert steps == [
        ("payments", "Placed"), ("tickets", "Reserved"), ("payments", "Held"),
        ("payments", "PaymentAttached"), ("tickets", "Confirmed"), ("payments", "Paid"),
    ]  # fmt: skip
    # New events get positions after the old ones, which never move.
    vip = uuid.UUID(next(e.aggregate_id for _, e in everything if e.aggregate_type == "TicketType"))
    event_id = uuid.UUID(
        next(e.aggregate_id for _, e in everything if e.aggregate_type == "Concert")
    )
    buy(tickets, orders, vip, event_id, 1, pay=False, key="late")
    late = await audit.log(positions[-1], 20)
    assert [e.type for _, e in late.items] == ["Placed", "Reserved", "Held", "PaymentAttached"]
    assert [p for p, _ in late.items] == [positions[-1] + n for n in (1, 2, 3, 4)]
    again = await audit.log(0, 5)
    assert [(p, e.aggregate_id, e.version) for p, e in again.items] == [
        (p, e.aggregate_id, e.version) for p, e in everything[:5]
    ]


def test_merging_a_chunk_places_nothing_past_what_a_full_log_has_shown():
    base = datetime(2027, 1, 1, tzinfo=UTC)
    full = [(base + timedelta(seconds=i), i + 1) for i in range(CATCH_UP_CHUNK)]
    later = base + timedelta(seconds=CATCH_UP_CHUNK + 5)
    merged = merge({"tickets": full, "payments": [(base, 1), (later, 2)]})
    # The payments event later than everything the full tickets chunk showed waits.
    assert [(log, nid) for *_, nid, log in merged if log == "payments"] == [("payments", 1)]
    assert len(merged) == CATCH_UP_CHUNK + 1


async def test_verification_is_clean_after_a_scripted_sale(stores, audit):
    tickets, orders = stores
    a_scripted_sale(tickets, orders, Marks())
    report = await audit.verify()
    assert report.violations == []
    assert report.ok
    assert report.checked_events == audit.sources.head("tickets") + audit.sources.head("payments")
    assert report.read_models.startswith("not checked")


async def test_a_paid_order_without_its_tickets_and_a_hold_of_a_failed_order_are_reported(
    stores, audit
):
    tickets, orders = stores
    event_id, vip, _, _, _ = a_scripted_sale(tickets, orders, Marks())
    # The payments service records a payment the tickets service never confirmed, and a
    # failed order whose hold is still open: the two halves of the saga disagree.
    unpaid = buy(tickets, orders, vip, event_id, 1, pay=False, key="half-paid")
    orders.mark_paid(unpaid, "pay-half-paid", datetime.now(UTC))
    stuck = buy(tickets, orders, vip, event_id, 1, pay=False, key="stuck")
    orders.mark_failed(stuck, "declined")
    report = await audit.verify(grace=timedelta(0))
    found = {(v.check, v.aggregate_id) for v in report.violations}
    assert ("paid_without_tickets", str(unpaid)) in found
    assert any(v.check == "hold_outlives_order" and str(stuck) in v.detail
               for v in report.violations)  # fmt: skip
    # Within the grace period these are a saga between its two steps, not a violation.
    assert (await audit.verify()).ok


async def test_orders_placed_already_held_in_one_event_are_followed_like_any_other(stores, audit):
    """A rush's new order is one Placed event carrying its hold and payment: the auditor
    counts it as pending, checks its sale when paid, and reports its hold if it fails."""
    tickets, orders = stores
    event_id, vip, _, _, _ = a_scripted_sale(tickets, orders, Marks())

    def placed_held(key: str) -> Order:
        expires = datetime.now(UTC) + HOLD
        placement = OrderPlacement(
            key, event_id, vip, 1, f"{key}@example.com", "+254712345678", Money(2500, "KES")
        )
        tickets.reserve(vip, placement.order_id, 1, expires)
        order = placement(
            None, held_until=expires, payment_ref=f"pay-{key}",
            checkout_url=f"https://pay.example/{key}",
        )  # fmt: skip
        orders.save(order)
        return order

    paid, waiting, stuck = placed_held("rush-paid"), placed_held("rush-wait"), placed_held("stuck")
    tickets.confirm(vip, paid.id)
    orders.mark_paid(paid.id, "pay-rush-paid", datetime.now(UTC))
    orders.mark_failed(stuck.id, "declined")  # its hold is left open: the halves disagree
    assert [e["type"] for e in (await audit.stream(waiting.id))["events"]] == ["Placed"]
    report = await audit.verify(grace=timedelta(0))
    assert [(v.check, str(stuck.id) in v.detail) for v in report.violations] == [
        ("hold_outlives_order", True)
    ]
    tickets.release(vip, stuck.id)
    clean = await audit.verify(grace=timedelta(0))
    assert clean.ok, clean.violations


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_an_oversell_written_into_the_store_by_hand_is_reported(settings, stores, audit):
    tickets, orders = stores
    _, vip, _, first, _ = a_scripted_sale(tickets, orders, Marks())
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        topic, state = conn.execute(
            "SELECT topic, state FROM tickets_events WHERE originator_id = %s "
            "AND topic LIKE %s ORDER BY originator_version LIMIT 1",
            (vip, "%Reserved"),
        ).fetchone()
        version = conn.execute(
            "SELECT max(originator_version) FROM tickets_events WHERE originator_id = %s", (vip,)
        ).fetchone()[0]
        recorded = json.loads(bytes(state))
        assert recorded["order_id"] == str(first)
        forged = recorded | {"order_id": str(uuid.uuid4()), "quantity": 9}
        conn.execute(
            "INSERT INTO tickets_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            (vip, version + 1, topic, json.dumps(forged).encode()),
        )
    report = await audit.verify()
    assert not report.ok
    oversold = [v for v in report.violations if v.check == "oversold"]
    assert len(oversold) == 1, report.violations
    assert oversold[0].aggregate_id == str(vip)
    assert oversold[0].version == version + 1
    assert "3 sold + 9 held exceeds the stock of 8" in oversold[0].detail
