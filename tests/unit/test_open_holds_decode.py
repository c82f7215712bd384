"""The hold sweep reads a hold event's order id and expiry as the library's mapper decodes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.money import Money
from domain.ticket_type import TicketType
from services.tickets.application import Tickets
from services.tickets.holds import ENDS, OPENS, OpenHolds

NOW = datetime.now(UTC)
EAST_AFRICA = timezone(timedelta(hours=3))


def stored_hold_events(tickets: Tickets) -> list:
    """Every kind of hold event, encoded by the application's own mapper."""
    price = Money.parse("25.00", "USD")
    ticket_type = TicketType(uuid.uuid4(), "General", price, 10, NOW - timedelta(hours=1),
                             NOW + timedelta(days=1), True, "admin-1")  # fmt: skip
    expiries = [NOW + timedelta(minutes=15), datetime(2026, 11, 26, 7, 0, 0, 1, EAST_AFRICA),
                datetime(2026, 11, 26, 4, 0, tzinfo=UTC), NOW + timedelta(minutes=1)]  # fmt: skip
    for order, expires_at in zip("abcd", expiries, strict=True):
        ticket_type.reserve(f"order-{order}", 1, expires_at, NOW)
    ticket_type.confirm("order-a")
    ticket_type.release("order-b")
    ticket_type.expire("order-c", NOW)
    ticket_type.refund("order-a")
    events = [tickets.mapper.to_stored_event(e) for e in ticket_type.collect_events()]
    return [e for e in events if e.topic.rpartition(":")[2] in ENDS | {OPENS}]


@pytest.mark.parametrize(
    "env",
    [
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        {
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        },
    ],
)
def test_a_hold_event_reads_the_same_as_the_mappers_decode(env):
    tickets = Tickets(env=env)
    open_holds = OpenHolds(tickets)
    stored = stored_hold_events(tickets)
    assert len(stored) == 7  # four holds opened, three ended
    for event in stored:
        decoded = tickets.mapper.to_domain_event(event)
        order_id, expires_at = open_holds.hold_of(event)
        assert order_id == decoded.order_id
        assert expires_at == getattr(decoded, "expires_at", None)
        if expires_at is not None:
            assert expires_at.utcoffset() == decoded.expires_at.utcoffset()
    assert open_holds.plain_json == ("COMPRESSOR_TOPIC" not in env)


@pytest.mark.parametrize(
    "env",
    [
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        {
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        },
    ],
)
def test_a_batch_of_holds_reads_the_same_as_the_mappers_decode_and_opens_each_hold(env):
    tickets = Tickets(env=env)
    price = Money.parse("25.00", "USD")
    ticket_type = TicketType(uuid.uuid4(), "General", price, 10, NOW - timedelta(hours=1),
                             NOW + timedelta(days=1), True, "admin-1")  # fmt: skip
    ticket_type.collect_events()
    later = datetime(2026, 11, 26, 7, 0, 0, 1, EAST_AFRICA)
    refusals = ticket_type.reserve_many(
        [("order-a", 2, NOW + timedelta(minutes=15)), ("order-b", 20, later),
         ("order-c", 1, later)],
        NOW,
    )  # fmt: skip
    assert [type(refusal).__name__ for refusal in refusals] == [
        "NoneType", "SoldOutError", "NoneType"
    ]  # fmt: skip
    ticket_type.confirm("order-a")
    stored = [tickets.mapper.to_stored_event(e) for e in ticket_type.collect_events()]
    open_holds = OpenHolds(tickets)
    decoded = tickets.mapper.to_domain_event(stored[0])
    assert open_holds.holds_of(stored[0]) == [(o, e) for o, _q, e in decoded.holds]
    assert open_holds.holds_of(stored[0])[1][1].utcoffset() == timedelta(hours=3)

    tickets.recorder.insert_events(stored)
    open_holds.catch_up()  # the batch opens two holds; the confirmation ends one
    assert open_holds.expiries == {(ticket_type.id, "order-c"): later}
