"""The event store's insert with one array per column instead of one array of composites.

eventsourcing's PostgreSQL recorder sends a batch of stored events as one array of a
composite type, which psycopg writes as text, field by field, in Python: about 37 µs of CPU
per event on the 2-core machine, most of what a group commit costs. Four arrays (uuid[],
bigint[], text[], bytea[]) sent in binary cost about 13 µs (bench/event_insert.py). The rest
is the library's own: the table lock that keeps commit order equal to notification order,
the NOTIFY, one INSERT … SELECT FROM unnest(…) RETURNING notification_id, whose ids come back
in the order given, and a unique-key violation raised as the library's IntegrityError.

All of that runs in one PL/pgSQL function (`ticketing_insert_events_<table>`, made with it):
one prepared statement per batch, where the library's way is a pipeline of a BEGIN, the lock
timeout, the lock, the NOTIFY, the INSERT and a COMMIT, each through psycopg's Python. That
was about 12 % of the payments process's CPU and 40 % of the tickets process's in a rush
(bench/event_insert.py compares the three).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

TOPIC = "services.common.recorder:ColumnArraysRecorder"


class ColumnArraysRecorder(PostgresApplicationRecorder):
    """PostgresApplicationRecorder, inserting a batch as one binary array per column."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.column_arrays_insert = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )
        function = Identifier(f"ticketing_insert_events_{self.events_table_name}")
        # The library's statements, in its order, in one call (see the module's docstring).
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "ids uuid[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING notification_id; "
                "END; $BODY$"
            ).format(
                schema=Identifier(self.datastore.schema),
                function=function,
                table=Identifier(self.events_table_name),
                lock_timeout=self.datastore.lock_timeout,
                channel=Identifier(self.channel_name),
            )
        )
        self.insert_function_call = (
            SQL("SELECT * FROM {schema}.{function}(%b, %b, %b, %b) AS ids(notification_id)")
            .format(schema=Identifier(self.datastore.schema), function=function)
            .as_string(None)
        )
        # Other recorders add statements to the insert's transaction (tracking records):
        # those keep the library's transaction.
        self.one_call = type(self)._insert_events is PostgresApplicationRecorder._insert_events

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The batch in one call of the insert function: its notification ids, in order."""
        if (
            not stored_events
            or not self.one_call
            or self.datastore.enable_db_functions
            or not all(isinstance(event.originator_id, UUID) for event in stored_events)
        ):
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.insert_function_call, columns(stored_events), prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        if not all(isinstance(event.originator_id, UUID) for event in stored_events):
            # Not ours (our aggregates have UUIDs): the library's own way.
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.column_arrays_insert, columns(stored_events))


def columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    """The batch as one list per column: ids, versions, topics, states."""
    return (
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
    )
