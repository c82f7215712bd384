"""Threads loading one busy ticket type while another saves to it always get a whole copy."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from domain.concert import ConcertStatus
from domain.money import Money
from services.tickets.application import Tickets

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_loads_racing_a_writer_never_see_a_torn_ticket_type(pg_env):
    tickets = Tickets(env=pg_env | {"AGGREGATE_CACHE_MAXSIZE": "100"}, clock=lambda: NOW)
    concert = tickets.create_concert("Rush", "", "Nairobi", NOW + timedelta(days=9), "admin")
    ticket_type_id = tickets.add_ticket_type(
        concert, "GA", Money.parse("10.00", "KES"), 100_000,
        NOW - timedelta(hours=1), NOW + timedelta(days=1), "admin",
    )  # fmt: skip
    tickets.change_concert_status(concert, ConcertStatus.ACTIVE, "admin")
    writing = threading.Event()
    failures: list[str] = []

    def write() -> None:
        try:
            for _ in range(400):
                tickets.reserve(ticket_type_id, uuid.uuid4(), 1, NOW + timedelta(minutes=15))
        finally:
            writing.set()

    def read() -> None:
        while not writing.is_set():
            try:
                ticket_type = tickets.get_ticket_type(ticket_type_id)
            except RuntimeError as error:  # a copy taken while another thread changed it
                failures.append(repr(error))
                continue
            quantities = sum(hold.quantity for hold in ticket_type.holds.values())
            if ticket_type.held != quantities:
                failures.append(f"held {ticket_type.held} but holds add up to {quantities}")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = tickets.get_ticket_type(ticket_type_id).held
    tickets.close()
    assert failures == []
    assert held == 400
