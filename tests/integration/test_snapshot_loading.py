"""A hot ticket type with a long history still loads by reading only a few events."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from domain.ticket_type import TicketType
from services.common.application import DEFAULT_SNAPSHOT_STATE_FRACTION
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

    # With a cache, as the services run (settings.event_store_env).
    reader = Tickets(env=pg_env | {"AGGREGATE_CACHE_MAXSIZE": "10"}, snapshot_interval=INTERVAL)
    events_read = count_events_read(reader)
    loaded = reader.get_ticket_type(ticket_type_id)
    assert isinstance(loaded, TicketType)
    assert loaded.version == EVENTS
    assert len(loaded.holds) == ticket_type.held == loaded.held
    assert loaded.holds == ticket_type.holds
    # Snapshots come further apart as the state grows (TicketingApplication): replay is bounded.
    bound = max(INTERVAL, DEFAULT_SNAPSHOT_STATE_FRACTION * len(loaded.holds))
    assert events_read[0] < bound, f"{events_read[0]} events replayed despite snapshots"

    # Once cached, loading again only fast-forwards over events it has not seen.
    events_read[0] = 0
    assert reader.get_ticket_type(ticket_type_id).version == EVENTS
    assert events_read[0] == 0
    reader.close()


def snapshot_versions(app: Tickets, aggregate_id: uuid.UUID) -> list[int]:
    """The versions of every snapshot stored of one aggregate, oldest first."""
    assert app.snapshots is not None
    recorder = app.snapshots.recorder
    return [stored.originator_version for stored in recorder.select_events(aggregate_id)]


def test_a_growing_ticket_type_is_snapshotted_less_often_as_its_state_grows(pg_env):
    interval, fraction, batch, holds = 100, 0.5, 50, 3_000
    writer = Tickets(env=pg_env, snapshot_interval=interval, snapshot_state_fraction=fraction)
    ticket_type_id = an_active_ticket_type(writer, 2 * holds)
    ticket_type = writer.get_ticket_type(ticket_type_id)
    expires_at = datetime.now(UTC) + timedelta(minutes=15)
    for _ in range(holds // batch):
        for _ in range(batch):
            ticket_type.reserve(str(uuid.uuid4()), 1, expires_at, datetime.now(UTC))
        writer.save(ticket_type)
        loaded = Tickets(env=pg_env, snapshot_interval=interval)
        events_read = count_events_read(loaded)
        assert loaded.get_ticket_type(ticket_type_id).holds == ticket_type.holds
        # The bound the rule promises (the first snapshot is at the first mark).
        assert events_read[0] < max(interval, fraction * len(ticket_type.holds)) + batch
        loaded.close()

    versions = snapshot_versions(writer, ticket_type_id)
    assert versions[0] == 102  # the first save past the first mark (versions 1 and 2: set-up)
    for before, after in itertools.pairwise(versions):
        due_after = max(interval, fraction * (after - 2))  # one hold per version after 2
        assert due_after <= after - before < due_after + batch
    assert len(versions) <= 8  # not one every interval: 30

    # After a restart, the next snapshot comes at the next mark, then the rule again.
    restarted = Tickets(env=pg_env, snapshot_interval=interval, snapshot_state_fraction=fraction)
    ticket_type = restarted.get_ticket_type(ticket_type_id)
    for _ in range(2):
        ticket_type.reserve(str(uuid.uuid4()), 1, expires_at, datetime.now(UTC))
        restarted.save(ticket_type)
    assert snapshot_versions(restarted, ticket_type_id) == versions
    for _ in range(interval):
        ticket_type.reserve(str(uuid.uuid4()), 1, expires_at, datetime.now(UTC))
    restarted.save(ticket_type)
    assert snapshot_versions(restarted, ticket_type_id)[-1] == ticket_type.version
    restarted.close()
    writer.close()
