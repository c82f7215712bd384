"""A hot ticket type with a long history still loads by reading only a few events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.ticket_type import TicketType
from services.tickets.application import Tickets
from tests.integration.test_concurrent_reservations import an_active_ticket_type

EVENTS = 100_000
BATCH = 1_000
INTERVAL = 1_000


def count_events_read(app: Tickets) -> list[int]:
    """Wrap the event recorder so every stored event it returns is counted."""
    counted = [0]
    select_events = app.recorder.select_events

    def counting_select_events(*args, **kwargs):
        events = select_events(*args, **kwargs)
        counted[0] += len(events)
        return events

    app.recorder.select_events = counting_select_events  # type: ignore[method-assign]
    return counted


def test_a_ticket_type_with_100_000_events_loads_from_its_latest_snapshot(pg_env):
    writer = Tickets(env=pg_env, snapshot_interval=INTERVAL)
    ticket_type_id = an_active_ticket_type(writer, EVENTS)
    ticket_type = writer.get_ticket_type(ticket_type_id)
    expires_at = datetime.now(UTC) + timedelta(minutes=15)
    while ticket_type.version < EVENTS:
        for _ in range(min(BATCH, EVENTS - ticket_type.version)):
            ticket_type.reserve(str(uuid.uuid4()), 1, expires_at, datetime.now(UTC))
        writer.save(ticket_type)
    assert ticket_type.version == EVENTS
    writer.close()

    reader = Tickets(env=pg_env, snapshot_interval=INTERVAL)
    events_read = count_events_read(reader)
    loaded = reader.get_ticket_type(ticket_type_id)
    assert isinstance(loaded, TicketType)
    assert loaded.version == EVENTS
    assert len(loaded.holds) == ticket_type.held == loaded.held
    assert loaded.holds == ticket_type.holds
    assert events_read[0] < INTERVAL, f"{events_read[0]} events replayed despite snapshots"

    # Once cached, loading again only fast-forwards over events it has not seen.
    events_read[0] = 0
    assert reader.get_ticket_type(ticket_type_id).version == EVENTS
    assert events_read[0] == 0
    reader.close()
