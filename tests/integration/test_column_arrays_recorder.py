"""The event store's column-array insert: the same rows, order and refusals as the library's."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from services.common.recorder import ColumnArraysRecorder
from services.payments.application import Orders


@pytest.fixture
def recorders(pg_env):
    datastore = PostgresDatastore(
        dbname=pg_env["POSTGRES_DBNAME"], host=pg_env["POSTGRES_HOST"],
        port=pg_env["POSTGRES_PORT"], user=pg_env["POSTGRES_USER"],
        password=pg_env["POSTGRES_PASSWORD"], schema=pg_env["POSTGRES_SCHEMA"], pool_size=2,
    )  # fmt: skip
    ours = ColumnArraysRecorder(datastore, events_table_name="ours_events")
    library = PostgresApplicationRecorder(datastore, events_table_name="library_events")
    ours.create_table()
    library.create_table()
    yield ours, library
    datastore.close()


def batch(spec: list[tuple[int, str, bytes]]) -> list[StoredEvent]:
    """Stored events for fresh aggregates: spec names which aggregate, the topic and state."""
    ids = [uuid.uuid4() for _ in range(4)]
    versions = dict.fromkeys(ids, 0)
    events = []
    for which, topic, state in spec:
        originator = ids[which]
        versions[originator] += 1
        events.append(StoredEvent(originator, versions[originator], topic, state))
    return events


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
            st.binary(max_size=300),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_batch_is_stored_and_numbered_as_the_library_stores_it(recorders, spec):
    ours, library = recorders
    events = batch(spec)
    our_ids, library_ids = ours.insert_events(events), library.insert_events(events)
    assert len(our_ids) == len(library_ids) == len(events)
    assert our_ids == sorted(our_ids)
    assert len(set(our_ids)) == len(our_ids)
    for originator in {event.originator_id for event in events}:
        assert ours.select_events(originator) == library.select_events(originator)
    # The notification log lists the batch in the order it was given.
    logged = ours.select_notifications(our_ids[0], len(events))
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in logged] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in events
    ]
    assert [n.id for n in logged] == our_ids


def test_a_batch_with_a_taken_version_is_refused_whole(recorders):
    ours, _ = recorders
    first = batch([(0, "t", b"one")])
    ours.insert_events(first)
    late = StoredEvent(first[0].originator_id, 1, "t", b"stale")
    fresh = StoredEvent(uuid.uuid4(), 1, "t", b"new")
    with pytest.raises(IntegrityError):
        ours.insert_events([fresh, late])
    assert ours.select_events(fresh.originator_id) == []
    assert [e.state for e in ours.select_events(late.originator_id)] == [b"one"]


def test_a_batch_is_one_call_that_wakes_listeners_and_holds_the_table_exclusively(
    recorders, pg_env, database_url, monkeypatch
):
    ours, _ = recorders
    table = sql.Identifier(pg_env["POSTGRES_SCHEMA"], "ours_events")

    def library_way(*args, **kwargs):
        raise AssertionError("the batch went the library's way, not the insert function's")

    monkeypatch.setattr(PostgresApplicationRecorder, "insert_events", library_way)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ours.channel_name)))
        ids = ours.insert_events(batch([(0, "t", b"a"), (1, "t", b"b")]))
        assert len(ids) == 2
        woken = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in woken] == [ours.channel_name]
    # A plain INSERT's ROW EXCLUSIVE lock would not wait for another ROW EXCLUSIVE holder;
    # the insert's EXCLUSIVE lock does: commit order stays notification order.
    with psycopg.connect(database_url) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(table))
        done = threading.Event()
        inserting = threading.Thread(
            target=lambda: (ours.insert_events(batch([(0, "t", b"c")])), done.set())
        )
        inserting.start()
        assert not done.wait(0.5)
        holder.rollback()
        assert done.wait(10)
        inserting.join()


def test_the_services_event_stores_use_it(pg_env):
    orders = Orders(env=pg_env)
    try:
        assert isinstance(orders.recorder, ColumnArraysRecorder)
    finally:
        orders.close()
