"""Running the payment sandbox under uvicorn for tests that need a real provider."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import uvicorn
from psycopg import sql

from services.common.database import Database, PostgresDatabase, SqliteDatabase
from services.common.settings import Settings
from services.payments.providers.sandbox_app import create_sandbox_app
from services.payments.providers.sandbox_store import SandboxStore
from tests.integration.uvicorn_helpers import serving_in_thread

SECRET = "sandbox-webhook-secret-only-for-these-tests"
FAST_RETRIES = {"retry_base_seconds": 0.05, "retry_cap_seconds": 0.2, "poll_seconds": 0.05}


def a_fresh_schema(url: str, prefix: str, max_size: int = 4) -> PostgresDatabase:
    """The SQL port on a schema of its own, made here, in the database at `url`."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return PostgresDatabase(f"{url}?options=-csearch_path%3D{schema}", max_size=max_size)


@contextmanager
def a_fresh_store(
    kind: str, request: pytest.FixtureRequest, directory: Path
) -> Iterator[SandboxStore]:
    """A sandbox store with empty tables: its own SQLite file, or its own PostgreSQL schema."""
    if kind == "sqlite":
        database: Database = SqliteDatabase(str(directory / f"sandbox-{uuid.uuid4().hex}.sqlite3"))
    else:
        database = a_fresh_schema(request.getfixturevalue("sandbox_database_url"), "sandbox")
    try:
        yield SandboxStore(database)
    finally:
        database.close()


@contextmanager
def running_sandbox(
    store: SandboxStore,
    webhook_url: str,
    data_dir: Path,
    *,
    hot_creates: bool = True,
    public_url: str | None = None,
) -> Iterator[str]:
    """The sandbox app under uvicorn on a free port; yields its base URL (its public URL too,
    unless another is given)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        ticketing_public_url=public_url or base_url,
        ticketing_sandbox_webhook_secret=SECRET,
        ticketing_data_dir=data_dir,
    )
    app = create_sandbox_app(store, settings, webhook_url, hot_creates=hot_creates, **FAST_RETRIES)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    with serving_in_thread(config, sock, "the sandbox"):
        yield base_url
