"""Replay speed: how fast an auditor's verification reads back the whole history.

Fills a fresh PostgreSQL database with about N events (default 1,000,000) written by the real
applications — ticket types with holds confirmed or released, orders placed, held, paid or
failed — then measures, in the same run, on the same data:

  raw read       the notification logs read page by page, nothing decoded (the floor: I/O)
  decode         the same pages decoded into domain events by the applications' mappers
  verify         `ticketing audit verify`'s replay: decode, fold the auditor's ledgers, check
  verify, gc on  the same replay with Python's cyclic collector running (the baseline it had)

(raw read and decode also run with the collector paused, so that the rows compare work.)

and prints events per second for each. Reproduce with:

    .venv/bin/python bench/replay.py                  # 1,000,000 events
    .venv/bin/python bench/replay.py --events 100000  # a quicker look

TEST_DATABASE_URL names the PostgreSQL server (bench/harness.py); the benchmark creates its
own database there and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from domain.concert import ConcertStatus
from domain.money import Money
from domain.order import Order
from services.audit.sources import EventSources
from services.audit.verify import no_cycle_collection, replay_and_check
from services.common.settings import Settings
from services.payments.application import OrderPlacement

EVENTS_PER_ORDER = 6  # Reserved + Confirmed/Released; Placed, Held, PaymentAttached, Paid/Failed
ORDERS_PER_TICKET_TYPE = 2000
BATCH = 500  # orders per save


def fill(sources: EventSources, target_events: int) -> int:
    """Write about target_events events through the applications; return how many."""
    tickets, orders = sources.tickets, sources.orders
    now = datetime.now(UTC)
    price = Money(2500, "KES")
    concert_id = tickets.create_concert(
        "Replay bench", "", "Nairobi", now + timedelta(days=30), by="bench"
    )
    tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, by="bench")
    total_orders = target_events // EVENTS_PER_ORDER
    written = 0
    started = time.perf_counter()
    while written < total_orders:
        ticket_id = tickets.add_ticket_type(
            concert_id, f"Tier {written}", price, ORDERS_PER_TICKET_TYPE * 2,
            now - timedelta(hours=1), now + timedelta(days=1), by="bench",
        )  # fmt: skip
        ticket_type = tickets.get_ticket_type(ticket_id)
        for start in range(0, min(ORDERS_PER_TICKET_TYPE, total_orders - written), BATCH):
            count = min(BATCH, ORDERS_PER_TICKET_TYPE - start, total_orders - written)
            batch: list[Order] = []
            for n in range(count):
                key = f"bench-{written + n}"
                placement = OrderPlacement(
                    key, concert_id, ticket_id, 1 + n % 3, f"{key}@example.com",
                    "+254712345678", price,
                )  # fmt: skip
                order = placement(None)
                expires = datetime.now(UTC) + timedelta(minutes=15)
                ticket_type.reserve(str(order.id), order.quantity, expires, datetime.now(UTC))
                order.mark_held(expires)
                order.attach_payment(f"pay-{key}", f"https://pay.example/{key}")
                if n % 4:
                    ticket_type.confirm(str(order.id))
                    order.mark_paid(f"pay-{key}", datetime.now(UTC))
                else:
                    ticket_type.release(str(order.id))
                    order.mark_failed("declined")
                batch.append(order)
            tickets.save(ticket_type)
            orders.save(*batch)
            written += count
        rate = written * EVENTS_PER_ORDER / (time.perf_counter() - started)
        print(f"\rwritten {written * EVENTS_PER_ORDER:,} events ({rate:,.0f}/s)", end="",
              file=sys.stderr, flush=True)  # fmt: skip
    print(file=sys.stderr)
    return sources.head("tickets") + sources.head("payments")


def raw_read(sources: EventSources) -> int:
    count = 0
    for log in sources.logs:
        for _ in sources.notifications(log):
            count += 1
    return count


def decode_all(sources: EventSources) -> int:
    count = 0
    for log, app in sources.logs.items():
        for notification in sources.notifications(log):
            app.mapper.to_domain_event(notification)
            count += 1
    return count


def timed(label: str, body) -> tuple[str, int, float]:
    started = time.perf_counter()
    count = body()
    return label, count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--skip-gc-baseline", action="store_true", help="skip the replay with the collector on"
    )
    args = parser.parse_args()
    with harness.fresh_database("bench_replay") as url:
        measure(url, args)


def measure(url: str, args: argparse.Namespace) -> None:
    settings = Settings(database_url=url, ticketing_data_dir=Path(".data/bench"))
    sources = EventSources.open(settings)
    try:
        stored = fill(sources, args.events)
        raw_read(sources)  # warm PostgreSQL's cache: every row below is then read from memory
        with no_cycle_collection():
            results = [
                timed("raw read", lambda: raw_read(sources)),
                timed("decode", lambda: decode_all(sources)),
            ]
        replay_box = {}

        def verify() -> int:
            replay_box["replay"] = replay_and_check(sources)
            return replay_box["replay"].report.checked_events

        def verify_collecting() -> int:
            # The same replay with the cyclic collector left running, as it was at first.
            with patch("services.audit.verify.no_cycle_collection", nullcontext):
                return replay_and_check(sources).report.checked_events

        results.append(timed("verify", verify))
        if not args.skip_gc_baseline:
            results.append(timed("verify, gc on", verify_collecting))
        report = replay_box["replay"].report
        print(f"\nreplay of {stored:,} stored events (PostgreSQL, {os.cpu_count()} cores)")
        floor = results[0][1] / results[0][2]
        for label, count, seconds in results:
            rate = count / seconds
            print(f"  {label:<13} {count:>10,} events  {seconds:7.1f} s  {rate:>10,.0f} events/s"
                  f"  ({rate / floor:.2f}x raw read)")  # fmt: skip
        print(f"  verification: {'OK' if report.ok else 'VIOLATIONS'} "
              f"({len(report.violations)} violations, {report.streams:,} streams)")  # fmt: skip
        print(f"reproduce: .venv/bin/python bench/replay.py --events {args.events}")
    finally:
        sources.close()


if __name__ == "__main__":
    main()
