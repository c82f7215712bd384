"""The notifications table (one row per order and channel) and the relay's position."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from services.common.database import Database

MIGRATIONS = [
    {
        "postgres": """
            CREATE TABLE notifications (
                id UUID PRIMARY KEY,
                order_id UUID NOT NULL,
                channel TEXT NOT NULL,
                status TEXT NOT NULL,
                content TEXT NOT NULL,
                recipient TEXT NOT NULL,
                sent_at TIMESTAMPTZ,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                updated_at TIMESTAMPTZ NOT NULL,
                UNIQUE (order_id, channel)
            );
            CREATE TABLE notifications_relay_position (
                name TEXT PRIMARY KEY,
                position BIGINT NOT NULL
            )
        """,
        "sqlite": """
            CREATE TABLE notifications (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                status TEXT NOT NULL,
                content TEXT NOT NULL,
                recipient TEXT NOT NULL,
                sent_at TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                updated_at TEXT NOT NULL,
                UNIQUE (order_id, channel)
            );
            CREATE TABLE notifications_relay_position (
                name TEXT PRIMARY KEY,
                position INTEGER NOT NULL
            )
        """,
    }
]


class Claim(Enum):
    """What a handler may do with a notification it tried to claim."""

    SEND = "send"  # ours to send now
    DONE = "done"  # already sent (or given up on): nothing to do
    BUSY = "busy"  # another handler holds it right now


@dataclass(frozen=True)
class Notification:
    """One row of the notifications table."""

    id: str
    order_id: str
    channel: str
    status: str
    content: str
    recipient: str
    sent_at: datetime | str | None
    attempts: int
    last_error: str | None


COLUMNS = "id, order_id, channel, status, content, recipient, sent_at, attempts, last_error"


class NotificationStore:
    """Rows claimed before sending, so a redelivered message never sends twice."""

    def __init__(self, database: Database, lease: timedelta = timedelta(minutes=2)) -> None:
        self.database = database
        self.lease = lease

    def migrate(self) -> None:
        """Create the tables if they are missing."""
        self.database.apply_migrations("notifications", MIGRATIONS)

    def claim(self, order_id: str, channel: str, recipient: str, content: str) -> Claim:
        """Create the row if new and mark it `sending` for us, unless someone else holds it."""
        now = datetime.now(UTC)
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO notifications (id, order_id, channel, status, content, recipient, "
                "attempts, updated_at) VALUES (%s, %s, %s, 'pending', %s, %s, 0, %s) "
                "ON CONFLICT (order_id, channel) DO NOTHING",
                (str(uuid.uuid4()), order_id, channel, content, recipient, self._time(now)),
            )
            # Rows left `sending`/`retrying` by a holder silent for a whole lease are taken over.
            cursor.execute(
                "UPDATE notifications SET status = 'sending', updated_at = %s "
                "WHERE order_id = %s AND channel = %s AND (status = 'pending' "
                "OR (status IN ('sending', 'retrying') AND updated_at < %s))",
                (self._time(now), order_id, channel, self._time(now - self.lease)),
            )
            if cursor.rowcount == 1:
                return Claim.SEND
            cursor.execute(
                "SELECT status FROM notifications WHERE order_id = %s AND channel = %s",
                (order_id, channel),
            )
            row = cursor.fetchone()
        assert row is not None
        return Claim.DONE if row[0] in {"sent", "failed"} else Claim.BUSY

    def mark_sent(self, order_id: str, channel: str) -> None:
        """The message was handed to the mail server."""
        now = self._time(datetime.now(UTC))
        self._update(
            "status = 'sent', sent_at = %s, attempts = attempts + 1, last_error = NULL, "
            "updated_at = %s",
            (now, now),
            order_id,
            channel,
        )

    def mark_retrying(self, order_id: str, channel: str, error: str) -> None:
        """An attempt failed; another will follow (the row stays ours)."""
        self._mark_failed_attempt("retrying", order_id, channel, error)

    def mark_failed(self, order_id: str, channel: str, error: str) -> None:
        """The last attempt failed; the message goes to the dead-letter queue."""
        self._mark_failed_attempt("failed", order_id, channel, error)

    def reopen(self, order_id: str, channel: str) -> bool:
        """Make a notification that failed for good claimable again; says whether it was."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE notifications SET status = 'pending', updated_at = %s "
                "WHERE order_id = %s AND channel = %s AND status IN ('failed', 'pending')",
                (self._time(datetime.now(UTC)), order_id, channel),
            )
            return cursor.rowcount == 1

    def find(self, order_id: str) -> list[Notification]:
        """The notifications of an order."""
        rows = self.database.query(
            f"SELECT {COLUMNS} FROM notifications WHERE order_id = %s ORDER BY channel",  # noqa: S608
            (order_id,),
        )
        return [Notification(*(str(row[0]), str(row[1]), *row[2:])) for row in rows]

    def count_by_status(self) -> dict[str, int]:
        """How many notifications are in each status."""
        rows = self.database.query("SELECT status, COUNT(*) FROM notifications GROUP BY status")
        return {status: int(count) for status, count in rows}

    def relay_position(self, name: str) -> int:
        """The last event-log position the named relay has published up to (0 at first)."""
        rows = self.database.query(
            "SELECT position FROM notifications_relay_position WHERE name = %s", (name,)
        )
        return int(rows[0][0]) if rows else 0

    def record_relay_position(self, name: str, position: int) -> None:
        """Remember that everything up to position is published (only after the confirm)."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO notifications_relay_position (name, position) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (name, position),
            )

    def _mark_failed_attempt(self, status: str, order_id: str, channel: str, error: str) -> None:
        self._update(
            "status = %s, attempts = attempts + 1, last_error = %s, updated_at = %s",
            (status, error[:2000], self._time(datetime.now(UTC))),
            order_id,
            channel,
        )

    def _update(self, assignments: str, params: tuple[Any, ...], order_id: str, channel: str):
        with self.database.transaction() as cursor:
            cursor.execute(
                f"UPDATE notifications SET {assignments} "  # noqa: S608
                "WHERE order_id = %s AND channel = %s",
                (*params, order_id, channel),
            )

    def _time(self, moment: datetime) -> datetime | str:
        # SQLite keeps ISO 8601 text in UTC, which sorts in time order.
        return moment if self.database.dialect == "postgres" else moment.isoformat()
