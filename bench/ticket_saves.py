"""CPU per order and the worst batch of the tickets writer on one hot ticket type: base vs ours.

Drives the real `TicketTypeWriters` of the tickets service, as in a rush: batches of holds on
one ticket type (one command per batch where the revision has `TicketType.reserve_many`, as
its ReserveBatch sends them), each batch also confirming the previous batch's holds, saved by
the writer against a fresh PostgreSQL database. The baseline is the same code at another git
revision (a temporary worktree), run in its own process; rounds alternate which goes first.
Each side reports the CPU of its whole process per order (`time.process_time`, snapshots
included, until the application is closed) and the slowest batch (wall and CPU).

    .venv/bin/python bench/ticket_saves.py [--baseline main] [--orders 60000] [--batch 60]
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def run_sale(orders: int, batch: int) -> dict[str, float]:
    """In this process (imports from sys.path[0]): one sale on a fresh database, its figures."""
    # Imported here, once the child has put the revision it measures first on sys.path.
    from domain.concert import ConcertStatus  # noqa: PLC0415
    from domain.money import Money  # noqa: PLC0415
    from domain.ticket_type import TicketType  # noqa: PLC0415
    from services.common.settings import postgres_env  # noqa: PLC0415
    from services.tickets.application import Tickets  # noqa: PLC0415
    from services.tickets.writer import TicketTypeWriters  # noqa: PLC0415

    name = f"bench_saves_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = postgres_env(f"postgresql://postgres@127.0.0.1:5432/{name}")
        tickets = Tickets(env=env | {"AGGREGATE_CACHE_MAXSIZE": "1000"})
        now = datetime.now(UTC)
        concert = tickets.create_concert("Rush", "", "Nairobi", now + timedelta(days=30), "a")
        ticket_type_id = tickets.add_ticket_type(
            concert, "General", Money.parse("25.00", "USD"), 10_000_000,
            now - timedelta(hours=1), now + timedelta(days=1), "a",
        )  # fmt: skip
        tickets.change_concert_status(concert, ConcertStatus.ACTIVE, "a")
        writers = TicketTypeWriters(tickets)
        expires_at = now + timedelta(minutes=15)
        previous: list[str] = []
        worst_wall = worst_cpu = 0.0
        started = time.process_time()
        for _ in range(orders // batch):
            held = [str(uuid.uuid4()) for _ in range(batch)]
            commands = [
                *reserving(TicketType, held, expires_at),
                *(lambda t, o=o: t.confirm(o) for o in previous),
            ]
            wall, cpu = time.perf_counter(), time.thread_time()
            outcomes = writers._apply(ticket_type_id, commands)
            worst_wall = max(worst_wall, time.perf_counter() - wall)
            worst_cpu = max(worst_cpu, time.thread_time() - cpu)
            assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
            previous = held
        tickets.close()  # lets any snapshot still being written finish: its CPU counts
        spent = time.process_time() - started
        return {
            "cpu_us_per_order": 1e6 * spent / (orders // batch * batch),
            "worst_batch_ms": 1e3 * worst_wall,
            "worst_batch_cpu_ms": 1e3 * worst_cpu,
        }
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def reserving(ticket_type_class: Any, held: list[str], expires_at: datetime) -> list[Any]:
    """The writer commands that hold one ticket for each order, as the tickets service's
    ReserveBatch makes them at the revision measured: one command for the batch
    (`reserve_many`, one event) where the revision has it, else one per hold."""
    if not hasattr(ticket_type_class, "reserve_many"):
        return [lambda t, o=o: t.reserve(o, 1, expires_at, datetime.now(UTC)) for o in held]

    def reserve_all(ticket_type: Any) -> None:
        refusals = ticket_type.reserve_many([(o, 1, expires_at) for o in held], datetime.now(UTC))
        assert refusals == [None] * len(held), refusals

    return [reserve_all]


def measure(root: Path, orders: int, batch: int) -> dict[str, float]:
    """Run one sale in a fresh process that imports the project from root."""
    command = [sys.executable, __file__, "--child", str(root), "--orders", str(orders),
               "--batch", str(batch)]  # fmt: skip
    answer = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if answer.returncode:
        sys.exit(f"{root}: {answer.stderr}")
    figures: dict[str, float] = json.loads(answer.stdout.splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare against")
    parser.add_argument("--orders", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.child))
        print(json.dumps(run_sale(args.orders, args.batch)))
        return 0
    print(f"command: {' '.join(sys.argv)}")
    # Not at the top: harness puts this checkout first on sys.path, and a child measuring
    # another revision must import that revision's code.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness  # noqa: PLC0415

    with harness.worktree(args.baseline) as base:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=base, check=True,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
        sides = [(f"base {rev}", base), ("ours", ROOT)]
        for round_ in range(1, args.rounds + 1):
            figures = {label: measure(root, args.orders, args.batch)
                       for label, root in (sides if round_ % 2 else sides[::-1])}  # fmt: skip
            line = "; ".join(
                f"{label}: {f['cpu_us_per_order']:.0f} µs CPU/order, worst batch "
                f"{f['worst_batch_ms']:.0f} ms ({f['worst_batch_cpu_ms']:.0f} ms CPU)"
                for label, f in sorted(figures.items(), reverse=True)
            )
            ours, theirs = figures["ours"], figures[sides[0][0]]
            ratio = ours["cpu_us_per_order"] / theirs["cpu_us_per_order"]
            print(f"round {round_} ({args.orders} orders): {line}; CPU {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
