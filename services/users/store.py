"""The users and invites tables on the Database port (PostgreSQL, or SQLite when embedded)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from domain.errors import AlreadyExistsError
from services.common.database import Cursor, Database, Row

MIGRATIONS = [
    {
        "postgres": """
            CREATE TABLE users_accounts (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('superadmin', 'admin', 'auditor')),
                created_at TIMESTAMPTZ NOT NULL,
                failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until TIMESTAMPTZ
            );
            CREATE UNIQUE INDEX users_accounts_email_key ON users_accounts (lower(email));
            CREATE INDEX users_accounts_created_at_id ON users_accounts (created_at, id);
            CREATE TABLE users_invites (
                code_hash TEXT PRIMARY KEY,
                email TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('superadmin', 'admin', 'auditor')),
                created_by TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL,
                used_at TIMESTAMPTZ
            )
        """,
        # Times as ISO 8601 TEXT in UTC with microseconds, so that text order is time order.
        "sqlite": """
            CREATE TABLE users_accounts (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('superadmin', 'admin', 'auditor')),
                created_at TEXT NOT NULL,
                failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until TEXT
            );
            CREATE UNIQUE INDEX users_accounts_email_key ON users_accounts (lower(email));
            CREATE INDEX users_accounts_created_at_id ON users_accounts (created_at, id);
            CREATE TABLE users_invites (
                code_hash TEXT PRIMARY KEY,
                email TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('superadmin', 'admin', 'auditor')),
                created_by TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used_at TEXT
            )
        """,
    },
]


@dataclass(frozen=True)
class User:
    """One account row."""

    id: str
    email: str
    password_hash: str
    role: str
    created_at: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        """Whether logins are refused at now."""
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class Invite:
    """One invite row; the code itself is never stored, only its SHA-256."""

    code_hash: str
    email: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class UserStore:
    """The users service's tables in one database; transactions hand out UserTables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def migrate(self) -> None:
        """Create or update the tables."""
        self.database.apply_migrations("users", MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[UserTables]:
        """The tables inside one transaction: committed on exit, rolled back on an error."""
        with self.database.transaction() as cursor:
            yield UserTables(cursor, self.database.dialect == "sqlite")


class UserTables:
    """The queries on the users service's tables, each run on one transaction's cursor."""

    def __init__(self, cursor: Cursor, times_as_text: bool) -> None:
        self.cursor = cursor
        self.times_as_text = times_as_text

    # -- users ----------------------------------------------------------------------------------

    def insert_user(self, user: User) -> None:
        """Add an account, or AlreadyExistsError when its email (in any case) is taken."""
        try:
            self.cursor.execute(
                "INSERT INTO users_accounts "
                "(id, email, password_hash, role, created_at, failed_logins, locked_until) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    user.id,
                    user.email,
                    user.password_hash,
                    user.role,
                    self.stored(user.created_at),
                    user.failed_logins,
                    self.stored(user.locked_until),
                ),
            )
        except psycopg.errors.UniqueViolation as error:
            raise AlreadyExistsError("a user with this email already exists") from error
        except sqlite3.IntegrityError as error:
            if "UNIQUE" not in str(error):
                raise
            raise AlreadyExistsError("a user with this email already exists") from error

    def user_by_email(self, email: str) -> User | None:
        """The account with this email, compared case-insensitively."""
        self.cursor.execute(
            "SELECT id, email, password_hash, role, created_at, failed_logins, locked_until "
            "FROM users_accounts WHERE lower(email) = lower(%s)",
            (email,),
        )
        row = self.cursor.fetchone()
        return self.user_of(row) if row else None

    def user_by_id(self, user_id: str) -> User | None:
        """The account with this id."""
        self.cursor.execute(
            "SELECT id, email, password_hash, role, created_at, failed_logins, locked_until "
            "FROM users_accounts WHERE id = %s",
            (user_id,),
        )
        row = self.cursor.fetchone()
        return self.user_of(row) if row else None

    def users_after(self, after: tuple[datetime, str] | None, limit: int) -> list[User]:
        """Up to limit accounts in (created_at, id) order, after the given position."""
        if after is None:
            self.cursor.execute(
                "SELECT id, email, password_hash, role, created_at, failed_logins, locked_until "
                "FROM users_accounts ORDER BY created_at, id LIMIT %s",
                (limit,),
            )
        else:
            self.cursor.execute(
                "SELECT id, email, password_hash, role, created_at, failed_logins, locked_until "
                "FROM users_accounts WHERE (created_at, id) > (%s, %s) "
                "ORDER BY created_at, id LIMIT %s",
                (self.stored(after[0]), after[1], limit),
            )
        return [self.user_of(row) for row in self.cursor.fetchall()]

    def record_failed_login(
        self, user_id: str, max_failures: int, lock_until: datetime
    ) -> datetime | None:
        """Count one failure; the max_failures-th locks the account and restarts the count.

        One UPDATE, so that concurrent failures are all counted. Returns the account's
        locked_until after it (None also for an unknown id).
        """
        self.cursor.execute(
            "UPDATE users_accounts SET "
            "locked_until = CASE WHEN failed_logins + 1 >= %s THEN %s ELSE locked_until END, "
            "failed_logins = CASE WHEN failed_logins + 1 >= %s THEN 0 ELSE failed_logins + 1 END "
            "WHERE id = %s RETURNING locked_until",
            (max_failures, self.stored(lock_until), max_failures, user_id),
        )
        row = self.cursor.fetchone()
        return self.optional_time_of(row[0]) if row else None

    def record_successful_login(self, user_id: str, now: datetime) -> bool:
        """Clear the failure count, unless the account is locked at now (then False)."""
        self.cursor.execute(
            "UPDATE users_accounts SET failed_logins = 0, locked_until = NULL "
            "WHERE id = %s AND (locked_until IS NULL OR locked_until <= %s)",
            (user_id, self.stored(now)),
        )
        return self.cursor.rowcount == 1

    def update_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace an account's password hash (after a parameter upgrade)."""
        self.cursor.execute(
            "UPDATE users_accounts SET password_hash = %s WHERE id = %s", (password_hash, user_id)
        )

    # -- invites --------------------------------------------------------------------------------

    def insert_invite(self, invite: Invite) -> None:
        """Add an invite."""
        self.cursor.execute(
            "INSERT INTO users_invites "
            "(code_hash, email, role, created_by, created_at, expires_at, used_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                invite.code_hash,
                invite.email,
                invite.role,
                invite.created_by,
                self.stored(invite.created_at),
                self.stored(invite.expires_at),
                self.stored(invite.used_at),
            ),
        )

    def invite_by_code_hash(self, code_hash: str) -> Invite | None:
        """The invite whose code hashes to code_hash."""
        self.cursor.execute(
            "SELECT code_hash, email, role, created_by, created_at, expires_at, used_at "
            "FROM users_invites WHERE code_hash = %s",
            (code_hash,),
        )
        row = self.cursor.fetchone()
        return self.invite_of(row) if row else None

    def claim_invite(self, code_hash: str, now: datetime) -> Invite | None:
        """Mark an unused, unexpired invite used at now and return it; None if there is none.

        The condition sits in the UPDATE itself, so two registrations cannot both claim it.
        """
        self.cursor.execute(
            "UPDATE users_invites SET used_at = %s "
            "WHERE code_hash = %s AND used_at IS NULL AND expires_at > %s "
            "RETURNING code_hash, email, role, created_by, created_at, expires_at, used_at",
            (self.stored(now), code_hash, self.stored(now)),
        )
        row = self.cursor.fetchone()
        return self.invite_of(row) if row else None

    # -- conversions ----------------------------------------------------------------------------

    def stored(self, moment: datetime | None) -> datetime | str | None:
        """A time as the dialect keeps it: timestamptz, or UTC ISO 8601 text with microseconds."""
        if moment is None or not self.times_as_text:
            return moment
        return moment.astimezone(UTC).isoformat(timespec="microseconds")

    def time_of(self, value: datetime | str) -> datetime:
        """A stored time as an aware datetime in UTC."""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(UTC)

    def optional_time_of(self, value: datetime | str | None) -> datetime | None:
        """A stored time that may be missing."""
        return None if value is None else self.time_of(value)

    def user_of(self, row: Row) -> User:
        """An account from a row of its columns in table order."""
        user_id, email, password_hash, role, created_at, failed_logins, locked_until = row
        return User(
            user_id,
            email,
            password_hash,
            role,
            self.time_of(created_at),
            failed_logins,
            self.optional_time_of(locked_until),
        )

    def invite_of(self, row: Row) -> Invite:
        """An invite from a row of its columns in table order."""
        code_hash, email, role, created_by, created_at, expires_at, used_at = row
        return Invite(
            code_hash,
            email,
            role,
            created_by,
            self.time_of(created_at),
            self.time_of(expires_at),
            self.optional_time_of(used_at),
        )
