"""The SQL port's two ways to write: a transaction, and a lone statement committed on its own.

On PostgreSQL the pool's connections are in autocommit: `transaction()` is an explicit BEGIN …
COMMIT, and `query()` sends its one statement alone (one round trip). Both must keep what
their callers rely on: a transaction is all or nothing and unseen until it commits; a lone
statement's effect is committed when it returns.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.common.database import Database, PostgresDatabase, SqliteDatabase
from tests.integration.sandbox_helpers import a_fresh_schema

TABLE = "CREATE TABLE items (id TEXT PRIMARY KEY, quantity INTEGER NOT NULL CHECK (quantity > 0))"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database: Database = SqliteDatabase(str(tmp_path / "port.sqlite3"))
    else:
        database = a_fresh_schema(request.getfixturevalue("sandbox_database_url"), "port", 2)
    database.query(TABLE)
    try:
        yield database
    finally:
        database.close()


def committed(database: Database) -> list[tuple[str, int]]:
    """What a separate connection sees in the table: only committed rows."""
    query = "SELECT id, quantity FROM items ORDER BY id"
    if isinstance(database, PostgresDatabase):
        with psycopg.connect(database.pool.conninfo, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(query).fetchall()]
    assert isinstance(database, SqliteDatabase)
    path = database.connection.execute("PRAGMA database_list").fetchone()[2]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [tuple(row) for row in conn.execute(query).fetchall()]


def test_a_lone_statement_returns_its_rows_and_is_committed_when_it_returns(database):
    rows = database.query(
        "INSERT INTO items (id, quantity) VALUES (%s, %s), (%s, %s) RETURNING id, quantity",
        ("a", 1, "b", 2),
    )
    assert sorted(tuple(row) for row in rows) == [("a", 1), ("b", 2)]
    assert committed(database) == [("a", 1), ("b", 2)]


def test_a_lone_statement_without_rows_answers_an_empty_list(database):
    database.query("INSERT INTO items (id, quantity) VALUES (%s, %s)", ("a", 1))
    assert database.query("UPDATE items SET quantity = quantity + 1 WHERE id = %s", ("a",)) == []
    assert committed(database) == [("a", 2)]


def test_a_failing_lone_statement_changes_nothing(database):
    database.query("INSERT INTO items (id, quantity) VALUES (%s, %s)", ("a", 1))
    with pytest.raises((psycopg.errors.CheckViolation, sqlite3.IntegrityError)):
        # The second row breaks the CHECK: the first one must not stay either.
        database.query(
            "INSERT INTO items (id, quantity) VALUES (%s, %s), (%s, %s)", ("b", 1, "c", 0)
        )
    assert committed(database) == [("a", 1)]
    # The connection is usable again afterwards.
    assert database.query("SELECT COUNT(*) FROM items") == [(1,)]


def test_a_transaction_is_unseen_until_it_commits_and_then_seen_whole(database):
    with database.transaction() as cursor:
        cursor.execute("INSERT INTO items (id, quantity) VALUES (%s, %s)", ("a", 1))
        cursor.execute("INSERT INTO items (id, quantity) VALUES (%s, %s)", ("b", 2))
        if isinstance(database, PostgresDatabase):
            assert committed(database) == []  # SQLite's writer lock keeps readers out instead
    assert committed(database) == [("a", 1), ("b", 2)]


def test_a_transaction_that_fails_part_way_is_rolled_back_whole(database):
    def insert_then_fail() -> None:
        with database.transaction() as cursor:
            cursor.execute("INSERT INTO items (id, quantity) VALUES (%s, %s)", ("a", 1))
            raise LookupError("the caller gave up half way")

    with pytest.raises(LookupError):
        insert_then_fail()
    assert committed(database) == []
    with database.transaction() as cursor:  # the pool's connection is clean again
        cursor.execute("INSERT INTO items (id, quantity) VALUES (%s, %s)", ("b", 1))
    assert committed(database) == [("b", 1)]
