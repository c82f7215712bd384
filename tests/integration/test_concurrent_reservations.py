"""Optimistic concurrency on the real PostgreSQL: racing writers can never oversell."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from domain.concert import ConcertStatus
from domain.errors import SoldOutError
from domain.money import Money
from services.common.settings import postgres_env
from services.tickets.application import Tickets

WRITERS = 200
STOCK = 50


def an_active_ticket_type(app: Tickets, stock: int) -> uuid.UUID:
    """A concert on sale now with one ticket type of the given stock."""
    now = datetime.now(UTC)
    concert_id = app.create_concert("Rush", "", "Nairobi", now + timedelta(days=30), "admin-1")
    ticket_type_id = app.add_ticket_type(
        concert_id,
        "General",
        Money.parse("25.00", "USD"),
        stock,
        now - timedelta(hours=1),
        now + timedelta(days=1),
        "admin-1",
    )
    app.change_concert_status(concert_id, ConcertStatus.ACTIVE, "admin-1")
    return ticket_type_id


def test_two_hundred_writers_racing_for_fifty_tickets_hold_exactly_fifty(pg_env):
    setup = Tickets(env=pg_env)
    ticket_type_id = an_active_ticket_type(setup, STOCK)
    # Each writer is its own application instance, as separate replicas would be.
    writer_env = pg_env | {
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "n",
    }
    writers = [Tickets(env=writer_env, conflict_retries=10_000) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    outcomes: dict[int, str] = {}

    def buy(index: int) -> None:
        start.wait()
        try:
            writers[index].reserve(
                ticket_type_id, uuid.uuid4(), 1, datetime.now(UTC) + timedelta(minutes=15)
            )
            outcomes[index] = "held"
        except SoldOutError:
            outcomes[index] = "sold_out"
        except Exception as error:
            outcomes[index] = f"error: {error!r}"

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.close()

    assert sorted(set(outcomes.values())) == ["held", "sold_out"]
    assert list(outcomes.values()).count("held") == STOCK
    assert list(outcomes.values()).count("sold_out") == WRITERS - STOCK

    reader = Tickets(env=pg_env)
    ticket_type = reader.get_ticket_type(ticket_type_id)
    assert ticket_type.held == STOCK
    assert len(ticket_type.holds) == STOCK
    assert ticket_type.remaining == 0

    versions = [
        stored.originator_version for stored in reader.recorder.select_events(ticket_type_id)
    ]
    assert versions == list(range(1, len(versions) + 1)), "the history has a version gap"
    for version in versions:
        past = reader.repository.get(ticket_type_id, version=version)
        assert past.sold + past.held <= past.total_stock, f"oversold at version {version}"
    reader.close()
    setup.close()


def test_services_starting_together_on_a_fresh_database_all_create_their_tables(
    fresh_database_url,
):
    env = postgres_env(fresh_database_url)
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            Tickets(env=env).close()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
