"""Closing an application while worker threads still read from it must not crash the process.

CI once died with a segmentation fault: a projections runner was cancelled while a worker
thread ran `max_notification_id` on SQLite, and the runner's `finally` closed the pool under it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg

from services.common.settings import Settings
from services.tickets.application import Tickets

HAMMER = textwrap.dedent(
    """
    import sys, threading, time
    from eventsourcing.persistence import ConnectionPoolClosedError
    from services.common.settings import Settings
    from services.tickets.application import Tickets

    settings = Settings(database_url=None, ticketing_data_dir=sys.argv[1])
    for attempt in range(20):
        app = Tickets(env=settings.event_store_env("tickets"))
        stop = threading.Event()

        def read():
            while not stop.is_set():
                try:
                    app.recorder.max_notification_id()
                    app.recorder.select_notifications(1, 100)
                except ConnectionPoolClosedError:
                    return

        readers = [threading.Thread(target=read) for _ in range(4)]
        for reader in readers:
            reader.start()
        time.sleep(0.02)
        app.close()  # while the readers are mid-statement
        stop.set()
        for reader in readers:
            reader.join()
    print("survived")
    """
)


def test_closing_under_running_readers_does_not_crash_the_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HAMMER, str(tmp_path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "survived"


def test_close_waits_for_a_read_in_flight_then_refuses_new_ones(tmp_path: Path) -> None:
    settings = Settings(database_url=None, ticketing_data_dir=tmp_path)
    app = Tickets(env=settings.event_store_env("tickets"))
    app.create_concert("Sauti Sol", "Farewell", "Nairobi", app.clock(), "admin-1")
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    seen: list[int] = []

    def slow_read() -> None:
        with datastore.transaction(commit=False) as cursor:
            time.sleep(0.3)  # a read still stepping when close() is called
            cursor.execute("SELECT COUNT(*) FROM stored_events")
            seen.append(cursor.fetchone()[0])

    reader = threading.Thread(target=slow_read)
    reader.start()
    time.sleep(0.05)
    started = time.monotonic()
    app.close()
    waited = time.monotonic() - started
    reader.join()
    assert seen == [1], "the read in flight finished on an open connection"
    assert waited >= 0.2, f"close returned after {waited:.3f}s, before the read finished"
    assert datastore.pool.closed


def test_commands_go_on_after_postgresql_drops_every_pooled_connection(fresh_database_url):
    """No pre-ping: a dead pooled connection fails once, is dropped, and the call is retried."""
    settings = Settings(database_url=fresh_database_url)
    app = Tickets(env=settings.event_store_env("tickets"))
    try:
        first = app.create_concert("Sauti Sol", "Farewell", "Nairobi", app.clock(), "admin-1")
        name = fresh_database_url.rsplit("/", 1)[1]
        with psycopg.connect(fresh_database_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()) AS terminated",
                (name,),
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1, "the pool held no connection to kill"
        second = app.create_concert("Bien", "Solo", "Mombasa", app.clock(), "admin-1")
        assert app.get_concert(first).title == "Sauti Sol"
        assert app.get_concert(second).location == "Mombasa"
    finally:
        app.close()
