"""A small SQL port for the services that keep plain tables (users, the payment sandbox).

PostgreSQL through psycopg when DATABASE_URL is set; otherwise an SQLite file in the data
folder (the embedded mode). Queries use %s placeholders on both. Calls block: async code
runs them with asyncio.to_thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from services.common.settings import Settings

Row = tuple[Any, ...]


class Cursor(Protocol):
    """What a transaction offers: run a statement, read its rows."""

    def execute(self, query: str, params: Sequence[Any] = ()) -> Cursor: ...
    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> None: ...
    def fetchall(self) -> list[Row]: ...
    def fetchone(self) -> Row | None: ...

    @property
    def rowcount(self) -> int: ...


class Database:
    """A connection pool to PostgreSQL or an SQLite file, with one way to run transactions."""

    dialect: Literal["postgres", "sqlite"]

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction: committed on exit, rolled back on an error."""
        raise NotImplementedError  # each adapter below provides it

    def close(self) -> None:
        """Release the connections."""

    def query(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement in its own transaction and return its rows."""
        with self.transaction() as cursor:
            cursor.execute(query, params)
            try:
                return cursor.fetchall()
            except (psycopg.ProgrammingError, sqlite3.ProgrammingError):
                return []

    def apply_migrations(self, component: str, migrations: Sequence[dict[str, str]]) -> None:
        """Apply, in order and once each, migrations given as {dialect: sql}."""
        with self.transaction() as cursor:
            if self.dialect == "postgres":
                # Services starting together on a fresh database would race on CREATE TABLE
                # IF NOT EXISTS, which PostgreSQL does not make safe under concurrency.
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))")
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(component TEXT NOT NULL, version INTEGER NOT NULL, "
                "PRIMARY KEY (component, version))"
            )
        for version, migration in enumerate(migrations, start=1):
            with self.transaction() as cursor:
                if self.dialect == "postgres":
                    # One migrator at a time across processes.
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (component,))
                cursor.execute(
                    "SELECT 1 FROM schema_migrations WHERE component = %s AND version = %s",
                    (component, version),
                )
                if cursor.fetchone() is not None:
                    continue
                for statement in split_statements(migration[self.dialect]):
                    cursor.execute(statement)
                cursor.execute(
                    "INSERT INTO schema_migrations (component, version) VALUES (%s, %s)",
                    (component, version),
                )


def split_statements(script: str) -> list[str]:
    """The statements of a migration script, one per semicolon-terminated chunk."""
    return [part.strip() for part in script.split(";") if part.strip()]


class PostgresDatabase(Database):
    """PostgreSQL through a psycopg connection pool."""

    dialect = "postgres"

    def __init__(self, url: str, max_size: int = 10) -> None:
        # Autocommit connections: a transaction is an explicit BEGIN … COMMIT (psycopg's
        # conn.transaction()), and a lone statement is one round trip with no BEGIN or COMMIT
        # of its own (query()).
        self.pool = ConnectionPool(
            url, min_size=1, max_size=max_size, open=True, timeout=10,
            kwargs={"autocommit": True},
        )  # fmt: skip

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield cursor  # type: ignore[misc]

    def query(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement, committed as it completes, and return its rows: one round trip,
        where a transaction around it costs three (BEGIN, the statement, COMMIT)."""
        with self.pool.connection() as conn, conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []

    def close(self) -> None:
        self.pool.close()


class _SqliteCursor:
    """sqlite3's cursor with %s placeholders."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor

    def execute(self, query: str, params: Sequence[Any] = ()) -> _SqliteCursor:
        self.cursor.execute(query.replace("%s", "?"), tuple(params))
        return self

    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(query.replace("%s", "?"), [tuple(p) for p in params_seq])

    def fetchall(self) -> list[Row]:
        return self.cursor.fetchall()

    def fetchone(self) -> Row | None:
        return self.cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


class SqliteDatabase(Database):
    """One SQLite file, one writer at a time (the embedded mode)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=10
        )
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.lock:
            cursor = self.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteCursor(cursor)
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def close(self) -> None:
        # After any transaction a worker thread is still running: closing under a running
        # statement crashes CPython 3.11's sqlite3 (see TicketingApplication.close).
        with self.lock:
            self.connection.close()


def open_database(settings: Settings, name: str) -> Database:
    """The database a service keeps its tables in: DATABASE_URL, or <data dir>/<name>.sqlite3."""
    if settings.database_url:
        return PostgresDatabase(settings.database_url)
    settings.ticketing_data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(str(settings.ticketing_data_dir / f"{name}.sqlite3"))
