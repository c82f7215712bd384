"""TicketingApplication.save takes the library's own path, with a cheaper check per aggregate."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime, timedelta

from eventsourcing.application import Application
from eventsourcing.domain import CollectEventsProtocol, DomainEventProtocol

from domain.concert import Concert
from domain.money import Money
from domain.order import Order
from domain.ticket_type import TicketType
from services.tickets.application import Tickets

NOW = datetime.now(UTC)


def a_ticket_type() -> TicketType:
    price = Money.parse("25.00", "USD")
    opens, closes = NOW - timedelta(hours=1), NOW + timedelta(days=1)
    return TicketType(uuid.uuid4(), "General", price, 10, opens, closes, True, "admin-1")


def an_order() -> Order:
    return Order(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 2, "a@example.com", "+254712345678",
                 Money.parse("25.00", "USD"), "fingerprint")  # fmt: skip


def test_every_aggregate_is_what_the_library_checks_it_for():
    concert = Concert("Rush", "", "Nairobi", NOW + timedelta(days=30), "admin-1")
    for aggregate in (a_ticket_type(), an_order(), concert):
        assert not isinstance(aggregate, DomainEventProtocol)
        assert isinstance(aggregate, CollectEventsProtocol)


def test_the_library_save_we_follow_is_unchanged():
    body = [line.strip() for line in inspect.getsource(Application.save).splitlines()]
    assert body[-7:] == [
        "processing_event: ProcessingEvent[TAggregateID] = ProcessingEvent()",
        "processing_event.collect_events(*objs, **kwargs)",
        "recordings = self._record(processing_event)",
        "self._take_snapshots(processing_event)",
        "self._notify(recordings)",
        "self.notify(processing_event.events)  # Deprecated.",
        "return recordings",
    ]


def test_a_save_records_the_same_as_the_library_save():
    ours = Tickets(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    library = Tickets(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ticket_type = a_ticket_type()
    ticket_type.reserve("order-1", 2, NOW + timedelta(minutes=15), NOW)
    twin = a_ticket_type()
    twin.reserve("order-1", 2, NOW + timedelta(minutes=15), NOW)
    # A bare event is saved as itself, None is skipped, keyword arguments reach the recorder.
    loose = an_order().collect_events()[0]

    saved = ours.save(ticket_type, None, loose)
    expected = Application.save(library, twin, None, loose)

    assert [(r.notification.topic, r.notification.originator_version) for r in saved] == [
        (r.notification.topic, r.notification.originator_version) for r in expected
    ]
    assert not ticket_type.pending_events
    assert ours.repository.get(ticket_type.id).holds == ticket_type.holds
    assert ours.repository.get(loose.originator_id).version == 1
