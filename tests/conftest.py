"""Shared fixtures: the real PostgreSQL server, one fresh schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from services.common.settings import postgres_env
from tests.integration.notifications_helpers import SmtpServer

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/ticketing_test"


def test_database_url() -> str:
    """The database the integration tests use; created on first use."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


test_database_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def database_url() -> str:
    """A reachable, existing test database; the run fails (never skips) if there is none."""
    url = test_database_url()
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {admin_url}: {error}. "
            "Start it (bash .ci/services) or set TEST_DATABASE_URL.",
            pytrace=False,
        )
    return url


@pytest.fixture
def pg_env(database_url: str) -> Iterator[dict[str, str]]:
    """The event-store environment for one test, in a schema of its own that is dropped after."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    env = postgres_env(database_url)
    env["POSTGRES_SCHEMA"] = schema
    yield env
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    """A database of its own for one test (services keep fixed table names), dropped after."""
    yield from a_database_of_its_own(database_url)


@pytest.fixture(scope="module")
def module_database_url(database_url: str) -> Iterator[str]:
    """A database of its own for one test module, dropped after."""
    yield from a_database_of_its_own(database_url)


def a_database_of_its_own(database_url: str) -> Iterator[str]:
    """Create a fresh database on the test server, yield its URL, drop it."""
    parts = urlsplit(database_url)
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free port, keeping what it receives."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()
