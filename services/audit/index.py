"""The global log: every service's events in one sequence of positions, for paging and export.

Each service has its own notification log (own table, own ids), and the two logs commit
independently, so there is no commit order across them to read back. The audit log gives one:
positions are assigned once, in a table of their own, by appending whatever each log has
committed since the last assignment (interleaved by event time), under a lock. A log is read
up to the ids it has committed, and the recorders make ids visible in order, so nothing is
skipped; a position, once given, never changes, so `after=` paging is exact even while the
services keep writing.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from services.audit.records import AuditEvent
from services.audit.sources import EventSources
from services.common.database import Database, PostgresDatabase, SqliteDatabase
from services.common.settings import Settings

MIGRATIONS = [
    {
        "postgres": (
            "CREATE TABLE audit_log (position BIGINT PRIMARY KEY, log TEXT NOT NULL, "
            "notification_id BIGINT NOT NULL, UNIQUE (log, notification_id))"
        ),
        "sqlite": (
            "CREATE TABLE audit_log (position INTEGER PRIMARY KEY, log TEXT NOT NULL, "
            "notification_id INTEGER NOT NULL, UNIQUE (log, notification_id))"
        ),
    }
]
CATCH_UP_CHUNK = 10_000  # notifications per log per transaction


def open_index_database(settings: Settings) -> Database:
    """The audit index's database: the services' PostgreSQL, or an SQLite file of its own."""
    if settings.database_url:
        return PostgresDatabase(settings.database_url, max_size=4)
    settings.ticketing_data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(str(settings.ticketing_data_dir / "audit.sqlite3"))


@dataclass(frozen=True)
class LogPage:
    items: list[tuple[int, AuditEvent]]
    next_after: int | None


def merge(fresh: dict[str, list[tuple[datetime, int]]]) -> list[tuple[datetime, int, int, str]]:
    """Interleave each log's new events by time, keeping each log's own order.

    A log that filled its chunk may have earlier events still unread, so nothing later than
    its last read event is placed yet: those wait for the next chunk, where they interleave
    with what that log has next.
    """
    full = [events[-1][0] for events in fresh.values() if len(events) >= CATCH_UP_CHUNK]
    cutoff = min(full) if full else None
    streams = [
        [
            (moment, rank, notification_id, log)
            for moment, notification_id in itertools.takewhile(
                lambda item: cutoff is None or item[0] <= cutoff, events
            )
        ]
        for rank, (log, events) in enumerate(fresh.items())
    ]
    if not any(streams):  # times out of order at the cut: place everything read
        streams = [
            [(moment, rank, notification_id, log) for moment, notification_id in events]
            for rank, (log, events) in enumerate(fresh.items())
        ]
    return list(heapq.merge(*streams))


class GlobalLog:
    """Positions over both services' logs, assigned on demand and kept."""

    def __init__(self, sources: EventSources, database: Database) -> None:
        self.sources = sources
        self.database = database
        self.database.apply_migrations("audit", MIGRATIONS)
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Give positions to every event committed so far; return the last position."""
        with self._lock:
            while True:
                last, added = self._catch_up_chunk()
                if not added:
                    return last

    def _catch_up_chunk(self) -> tuple[int, int]:
        with self.database.transaction() as cursor:
            if self.database.dialect == "postgres":
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('audit_log'))")
            cursor.execute("SELECT COALESCE(MAX(position), 0) FROM audit_log")
            row = cursor.fetchone()
            last = int(row[0]) if row else 0
            heads: dict[str, int] = {}
            for log in self.sources.logs:
                cursor.execute(
                    "SELECT COALESCE(MAX(notification_id), 0) FROM audit_log WHERE log = %s",
                    (log,),
                )
                row = cursor.fetchone()
                heads[log] = int(row[0]) if row else 0
            fresh = {log: self._new(log, heads[log]) for log in self.sources.logs}
            rows = [
                (last + offset, log, notification_id)
                for offset, (_, _, notification_id, log) in enumerate(merge(fresh), 1)
            ]
            cursor.executemany(
                "INSERT INTO audit_log (position, log, notification_id) VALUES (%s, %s, %s)",
                rows,
            )
            return last + len(rows), len(rows)

    def _new(self, log: str, after: int) -> list[tuple[datetime, int]]:
        """(event time, notification id) of the next chunk of log after `after`."""
        fresh = []
        for notification in self.sources.notifications(log, after + 1):
            fresh.append((self.sources.decode(log, notification).timestamp, notification.id))
            if len(fresh) >= CATCH_UP_CHUNK:
                break
        return fresh

    def page(self, after: int, limit: int) -> LogPage:
        """The events at positions after `after`, at most limit of them."""
        self.catch_up()
        rows = self.database.query(
            "SELECT position, log, notification_id FROM audit_log "
            "WHERE position > %s ORDER BY position LIMIT %s",
            (after, limit),
        )
        events = self._events(rows)
        items = [(int(position), events[(log, int(nid))]) for position, log, nid in rows]
        next_after = items[-1][0] if len(items) == limit else None
        return LogPage(items, next_after)

    def _events(self, rows: list[tuple[object, ...]]) -> dict[tuple[str, int], AuditEvent]:
        wanted: dict[str, set[int]] = {}
        for _, log, notification_id in rows:
            wanted.setdefault(str(log), set()).add(int(str(notification_id)))
        found: dict[tuple[str, int], AuditEvent] = {}
        for log, ids in wanted.items():
            for notification in self.sources.notifications(log, min(ids), max(ids)):
                if notification.id in ids:
                    found[(log, notification.id)] = self.sources.decode(log, notification)
        return found

    def export(self) -> Iterator[tuple[int, AuditEvent]]:
        """Every event of the global log in position order."""
        after = 0
        while True:
            page = self.page(after, 1000)
            yield from page.items
            if page.next_after is None:
                return
            after = page.next_after
