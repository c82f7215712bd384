"""Projections CPU: what the projections process spends per 1,000 holds at a fixed rush rate.

A light driver, not the whole system: this process writes to the two event stores (in a
PostgreSQL database of its own) what a flash sale on one ticket type writes, at a fixed rate —
per tick, one save of the new orders' holds on the hot ticket type (one
`TicketType.HoldsReserved`, as the tickets service's ReserveBatch records them),
then a group-committed save of the orders, each one `Order.Placed` event that carries its
hold and payment (`OrderSaga._place_new`) — and runs `projections.runner` as its own
process on them, as `ticketing run` does. It prints the runner's CPU (utime + stime from
/proc, all its threads) per 1,000 holds and idle, and the lag from a tickets commit to the
moment the projector's position in Redis covers it (every 50 ms, like projection_lag.py).

With --baseline REF the runner of that git revision (extracted with `git archive`) is measured
in the same run on the same logs and Redis keys, rounds alternating: a runner resumes from the
position the other stored, so each round measures the same rush.

    .venv/bin/python bench/projections_cpu.py --baseline main          # 300 holds/s, 2 x 2 x 15 s
    .venv/bin/python bench/projections_cpu.py --rate 150 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database, median  # noqa: E402
from domain.concert import ConcertStatus  # noqa: E402
from domain.money import Money  # noqa: E402
from domain.ticket_type import TicketType  # noqa: E402
from projections.keys import PAYMENTS_LOG, TICKETS_LOG, Keyspace  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.payments.application import OrderPlacement, Orders  # noqa: E402
from services.tickets.application import Tickets  # noqa: E402

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN = "bench-admin"
PROBE_EVERY = 0.05


# -- the runner under test ----------------------------------------------------------------------


@contextmanager
def source_of(ref: str | None) -> object:
    """The folder whose code the runner imports: this tree, or REF extracted from git."""
    if ref is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="bench-proj-src-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


@contextmanager
def runner(source: Path, settings: Settings, log: Path) -> object:
    """`projections.runner` imported from source, on settings' stores; SIGTERM at the end."""
    env = os.environ | {
        "PYTHONPATH": str(source),
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": REDIS_URL,
        "TICKETING_REDIS_NAMESPACE": settings.ticketing_redis_namespace,
        "TICKETING_DATA_DIR": str(settings.ticketing_data_dir),
        "TICKETING_LOG_FORMAT": "text",
    }
    env.pop("TICKETING_METRICS_PORT", None)
    command = [sys.executable, "-c", "from projections.runner import main; main()"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, cwd=source, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        imported = subprocess.run(
            [sys.executable, "-c", "import projections; print(projections.__file__)"],
            cwd=source, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not imported.startswith(str(source)):
            raise RuntimeError(f"the runner would import {imported}, not from {source}")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of the process and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process and all its threads so far."""
    return sum(cpu_times(pid))


# -- the rush -----------------------------------------------------------------------------------


@dataclass
class Shop:
    """The two applications and the hot ticket type, written to as the services would."""

    tickets: Tickets
    orders: Orders
    event_id: uuid.UUID
    ticket_id: uuid.UUID
    hot: TicketType = field(init=False)

    @classmethod
    def open(cls, settings: Settings) -> Shop:
        tickets = Tickets(env=settings.event_store_env("tickets"))
        orders = Orders(env=settings.event_store_env("payments"))
        now = datetime.now(UTC)
        event_id = tickets.create_concert(
            "Flash sale", "bench", "Nairobi", now + timedelta(days=30), ADMIN
        )
        ticket_id = tickets.add_ticket_type(
            event_id, "GA", Money.parse("25.00", "KES"), 10_000_000,
            now - timedelta(hours=1), now + timedelta(days=1), ADMIN,
        )  # fmt: skip
        tickets.add_ticket_type(
            event_id, "Probe", Money.parse("10.00", "KES"), 100_000,
            now - timedelta(hours=1), now + timedelta(days=1), ADMIN,
        )  # fmt: skip
        tickets.change_concert_status(event_id, ConcertStatus.ACTIVE, ADMIN)
        shop = cls(tickets, orders, event_id, ticket_id)
        shop.hot = tickets.get_ticket_type(ticket_id)
        return shop

    def sell(self, holds: int) -> int:
        """One group commit per step for `holds` new orders; the tickets commit's last id."""
        price = self.hot.price
        placements = [
            OrderPlacement(
                uuid.uuid4().hex, self.event_id, self.ticket_id, 1,
                "buyer@example.com", "+254712345678", price,
            )
            for _ in range(holds)
        ]  # fmt: skip
        now = datetime.now(UTC)
        expires_at = now + timedelta(minutes=15)
        holds = [(str(placement.order_id), 1, expires_at) for placement in placements]
        assert self.hot.reserve_many(holds, now) == [None] * len(holds)
        recordings = self.tickets.save(self.hot)
        self.orders.save(*(
            placement(
                None, held_until=expires_at, payment_ref=f"pay-{placement.order_id}",
                checkout_url="https://pay.example/c",
            )
            for placement in placements
        ))  # fmt: skip
        return max(recording.notification.id for recording in recordings)

    def heads(self) -> dict[str, int]:
        return {
            TICKETS_LOG: self.tickets.recorder.max_notification_id() or 0,
            PAYMENTS_LOG: self.orders.recorder.max_notification_id() or 0,
        }

    def close(self) -> None:
        self.tickets.close()
        self.orders.close()


class LagProbe:
    """Measures, in a thread, how long a tickets commit takes to reach the stored position."""

    def __init__(self, client: redis.Redis, keyspace: Keyspace) -> None:
        self.client, self.keyspace = client, keyspace
        self.pending: deque[tuple[int, float]] = deque()
        self.lags: list[float] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def committed(self, notification_id: int, at: float) -> None:
        self.pending.append((notification_id, at))

    def _position(self) -> int:
        prefix = self.client.get(self.keyspace.pointer)
        if prefix is None:
            return 0
        return int(self.client.get(f"{prefix.decode()}:position:{TICKETS_LOG}") or 0)

    def _watch(self) -> None:
        while not self.stopped.is_set():
            if not self.pending:
                time.sleep(0.005)
                continue
            notification_id, at = self.pending.popleft()
            while self._position() < notification_id and not self.stopped.is_set():
                time.sleep(0.001)
            self.lags.append(1000 * (time.perf_counter() - at))

    def stop(self) -> list[float]:
        self.stopped.set()
        self.thread.join()
        return self.lags


def wait_caught_up(client: redis.Redis, keyspace: Keyspace, heads: dict[str, int]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        prefix = client.get(keyspace.pointer)
        if prefix is not None:
            positions = {
                log: int(client.get(f"{prefix.decode()}:position:{log}") or 0) for log in heads
            }
            if all(positions[log] >= head for log, head in heads.items()):
                return
        time.sleep(0.05)
    raise RuntimeError(f"the projections never reached {heads}")


@dataclass
class Round:
    name: str
    holds: int
    seconds: float
    cpu: float
    system: float  # of cpu, in the kernel
    idle_cores: float
    lags: list[float]

    def line(self) -> str:
        lags = sorted(self.lags)

        def pct(p: float) -> float:
            return lags[min(len(lags) - 1, int(p / 100 * len(lags)))] if lags else float("nan")

        return (
            f"{self.name:>9}: {self.holds / self.seconds:5.0f} holds/s, "
            f"CPU {1000 * self.cpu / self.holds:6.3f} s per 1,000 holds "
            f"({self.cpu / self.seconds:.3f} cores, {self.system / self.cpu:.0%} in the kernel; "
            f"idle {self.idle_cores:.3f} cores), "
            f"lag p50 {pct(50):.1f} ms p99 {pct(99):.1f} ms over {len(lags)} probes"
        )


def rush(
    shop: Shop, pid: int, client: redis.Redis, keyspace: Keyspace, rate: float, seconds: float,
    tick: float, name: str,
) -> Round:  # fmt: skip
    """Drive the shop at rate holds/s for seconds; the runner's CPU over the rush and its drain."""
    wait_caught_up(client, keyspace, shop.heads())
    time.sleep(1.0)  # start-up's stragglers
    idle_from = cpu_seconds(pid)
    time.sleep(2.0)
    idle_cores = (cpu_seconds(pid) - idle_from) / 2.0
    probe = LagProbe(client, keyspace)
    holds, owed, last_probe = 0, 0.0, 0.0
    started = cpu_times(pid)
    begin = time.perf_counter()
    next_tick = begin
    while (now := time.perf_counter()) - begin < seconds:
        owed += rate * tick
        count = int(owed)
        if count:
            owed -= count
            last_id = shop.sell(count)
            holds += count
            committed = time.perf_counter()
            if committed - last_probe >= PROBE_EVERY:
                probe.committed(last_id, committed)
                last_probe = committed
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    elapsed = now - begin
    wait_caught_up(client, keyspace, shop.heads())
    user, system = (after - before for after, before in zip(cpu_times(pid), started, strict=True))
    return Round(name, holds, elapsed, user + system, system, idle_cores, probe.stop())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300, help="holds per second")
    parser.add_argument("--seconds", type=float, default=15, help="per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tick", type=float, default=0.02, help="seconds between group commits")
    parser.add_argument("--baseline", metavar="REF", help="also measure the runner of git REF")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}", flush=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-proj-logs-"))
    with (
        fresh_database("bench_projcpu") as database,
        source_of(args.baseline) as baseline_source,
        tempfile.TemporaryDirectory(prefix="bench-proj-data-") as data,
    ):
        # The driver's commits need not wait for the disk: the projections are measured here.
        with psycopg.connect(database, autocommit=True) as conn:
            name = database.rsplit("/", 1)[1]
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                    sql.Identifier(name)
                )
            )
        settings = Settings(
            database_url=database,
            redis_url=REDIS_URL,
            ticketing_data_dir=Path(data),
            ticketing_redis_namespace=f"bench-proj-{uuid.uuid4().hex[:8]}",
        )
        keyspace = Keyspace(settings.ticketing_redis_namespace)
        client = redis.Redis.from_url(REDIS_URL)
        shop = Shop.open(settings)
        variants = [("this tree", ROOT)]
        if args.baseline:
            variants.insert(0, (args.baseline, baseline_source))
        results: dict[str, list[Round]] = {name: [] for name, _ in variants}
        try:
            for number in range(args.rounds):
                order = variants if number % 2 == 0 else variants[::-1]
                for name, source in order:
                    with runner(source, settings, logs / "runner.log") as process:
                        result = rush(
                            shop, process.pid, client, keyspace, args.rate, args.seconds,
                            args.tick, name,
                        )  # fmt: skip
                    results[name].append(result)
                    print(f"round {number + 1} {result.line()}", flush=True)
        finally:
            shop.close()
            keys = list(client.scan_iter(match=f"{settings.ticketing_redis_namespace}:*"))
            if keys:
                client.delete(*keys)
            client.close()
    for name, rounds in results.items():
        per_1000 = median([1000 * r.cpu / r.holds for r in rounds])
        lags = [lag for r in rounds for lag in r.lags]
        merged = Round(
            name,
            sum(r.holds for r in rounds),
            sum(r.seconds for r in rounds),
            sum(r.cpu for r in rounds),
            sum(r.system for r in rounds),
            median([r.idle_cores for r in rounds]),
            lags,
        )
        print(f"all rounds {merged.line()}; median per round {per_1000:.3f} s per 1,000 holds")
    print(f"runner log: {logs / 'runner.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
