"""Flash sale: thousands of buyers on one ticket type, against a row-lock design, zero oversell.

Starts the whole system as `make run` does (PostgreSQL, Redis, RabbitMQ; bench/harness.py)
and the row-lock peer (bench/peers/rowlock.py, its own database), then for each round and
each connection count drives `POST /orders` with wrk (bench/lua/orders.lua: every request a
new buyer) at a fresh ticket type with ample stock — ours, then the peer, alternating who goes
first — and reports confirmed holds per second (201s carrying a pending order), p50/p99
latency, status counts, and the oversell check read from each side's own store:

  ours   the TicketType replayed from the tickets event store: sold + held <= total_stock,
         held = the holds' quantities, every hold belongs to a request wrk sent, and
         201s <= holds <= 201s + requests still in flight when wrk stopped
  peer   the same from its ticket_types row and holds table

`--mode sellout` sells a small stock out instead (a fixed number of buyers through an asyncio
client) and checks the counts exactly: stock 201s, the rest 409 sold_out, held = stock.

    .venv/bin/python bench/flash_sale.py                       # 3 rounds x 64, 256 connections
    .venv/bin/python bench/flash_sale.py --rounds 1 --seconds 10 --profile /tmp/prof
    .venv/bin/python bench/flash_sale.py --mode sellout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, nullcontext
from pathlib import Path
from uuid import UUID

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.peers import rowlock
from domain.order import order_id_for
from services.common.settings import Settings
from services.tickets.application import Tickets

AMPLE_STOCK = 10_000_000
PROFILED = ("gateway", "payments", "tickets", "sandbox", "projections")


def sent_order_ids(run: str, sent_by_thread: dict[str, int]) -> set[UUID]:
    """The order id of every request wrk sent (orders.lua names its buyers run-thread-n)."""
    ids = set()
    for thread, sent in sent_by_thread.items():
        for n in range(1, sent + 1):
            buyer = f"{run}-{thread}-{n}"
            ids.add(order_id_for(f"key-{buyer}", f"{buyer}@example.com"))
    return ids


def check_inventory(
    total: int, sold: int, held: int, holds: dict[UUID, int], load: dict, run: str
) -> dict:
    """Nothing oversold, and every hold accounted for by a request that was sent."""
    answered = load["pending_201"]
    in_flight = load["sent"] - load["requests"]
    strangers = set(holds) - sent_order_ids(run, load["sent_by_thread"])
    problems = []
    if sold + held > total:
        problems.append(f"oversold: sold {sold} + held {held} > {total}")
    if held != sum(holds.values()):
        problems.append(f"held {held} != the holds' quantities {sum(holds.values())}")
    if not answered <= len(holds) <= answered + in_flight:
        problems.append(f"{len(holds)} holds for {answered} 201s and {in_flight} in flight")
    if strangers:
        problems.append(f"{len(strangers)} holds for orders nobody sent")
    return {
        "oversold": max(0, sold + held - total),
        "held": held,
        "holds": len(holds),
        "in_flight_at_stop": in_flight,
        "problems": problems,
    }


def event_store_reader(database_url: str) -> Tickets:
    """The tickets application on the system's event store, reading without a cache."""
    env = Settings(database_url=database_url).event_store_env("tickets")
    env.pop("AGGREGATE_CACHE_MAXSIZE")
    return Tickets(env=env)


def our_inventory(tickets: Tickets, ticket_id: str) -> tuple[int, int, int, dict[UUID, int]]:
    """The ticket type as the tickets event store has it, once in-flight holds have landed."""
    previous = None
    for _ in range(50):
        ticket_type = tickets.get_ticket_type(UUID(ticket_id))
        if ticket_type.version == previous:
            break
        previous = ticket_type.version
        time.sleep(0.3)
    holds = {UUID(order): hold.quantity for order, hold in ticket_type.holds.items()}
    return ticket_type.total_stock, ticket_type.sold, ticket_type.held, holds


def peer_inventory(database_url: str, ticket_id: str) -> tuple[int, int, int, dict[UUID, int]]:
    previous = None
    for _ in range(50):
        counts = rowlock.ticket_type_counts(database_url, ticket_id)
        if counts == previous:
            break
        previous = counts
        time.sleep(0.3)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT order_id, quantity FROM holds WHERE ticket_type_id = %s", (ticket_id,)
        ).fetchall()
    holds = dict(rows)
    return counts["total_stock"], counts["sold"], counts["held"], holds


def drive(base_url: str, event_id: str, ticket_id: str, connections: int, seconds: float) -> tuple:
    run = f"r{uuid.uuid4().hex[:10]}"
    env = {"BENCH_EVENT_ID": event_id, "BENCH_TICKET_ID": ticket_id, "BENCH_RUN": run}
    load = harness.wrk(base_url, "orders.lua", connections, seconds, env)
    load["confirmed_per_s"] = load["pending_201"] / (load["duration_us"] / 1e6)
    return load, run


def summary_line(name: str, load: dict, check: dict) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load["statuses"].items()))
    return (
        f"  {name:<5} {load['confirmed_per_s']:8.0f} holds/s  p50 {load['p50_ms']:7.1f} ms"
        f"  p99 {load['p99_ms']:7.1f} ms  [{statuses}]  errors {load['errors_total']}"
        f"  oversold {check['oversold']}  holds {check['holds']}"
        + (f"  PROBLEMS: {check['problems']}" if check["problems"] else "")
    )


def both_sides(stack: ExitStack, args: argparse.Namespace):
    """Our system and the row-lock peer, each on a fresh database, stopped with the stack.

    Returns (our database URL, the peer's database URL, our running system, the peer's URL).
    """
    ours_db = stack.enter_context(harness.fresh_database("bench_flash"))
    peer_db = stack.enter_context(harness.fresh_database("bench_rowlock"))
    rowlock.create_schema(peer_db)
    system = stack.enter_context(harness.running_system(ours_db, extra_env=args.env))
    peer_port = harness.free_port()
    peer_log = Path(tempfile.mkdtemp(prefix="bench-rowlock-")) / "rowlock.log"
    command = [
        sys.executable, str(harness.ROOT / "bench/peers/rowlock.py"), "--database-url", peer_db,
        "--port", str(peer_port), "--pool", str(args.peer_pool),
    ]  # fmt: skip
    stack.enter_context(
        harness.server_process(command, f"http://127.0.0.1:{peer_port}/healthz", peer_log)
    )
    return ours_db, peer_db, system, f"http://127.0.0.1:{peer_port}"


def rush(args: argparse.Namespace) -> int:
    results: dict[int, list[dict]] = {c: [] for c in args.connections}
    failed = False
    with ExitStack() as stack:
        ours_db, peer_db, system, peer_url = both_sides(stack, args)
        tickets = event_store_reader(ours_db)
        stack.callback(tickets.close)
        print(f"system up at {system.base_url} (log {system.log}); peer at {peer_url}")
        harness.settle(0)  # start-up's own work (the projections' first reads) done first
        for round_number in range(1, args.rounds + 1):
            for connections in args.connections:
                entry: dict = {"round": round_number}
                sides = ["ours", "peer"] if round_number % 2 else ["peer", "ours"]
                for side in sides:
                    if side == "ours":
                        event, ticket = system.event_on_sale(AMPLE_STOCK)
                        profile = (
                            harness.profiling(
                                {n: p for n, p in system.children().items() if n in PROFILED},
                                args.profile / f"c{connections}",
                                args.seconds - 1,
                            )
                            if args.profile and round_number == 1
                            else nullcontext()
                        )
                        children = system.children()
                        cpu_before = harness.cpu_seconds(children)
                        with profile:
                            load, run = drive(
                                system.base_url, event["id"], ticket["id"], connections,
                                args.seconds,
                            )  # fmt: skip
                        cpu_after = harness.cpu_seconds(children)
                        load["cpu_share"] = {
                            name: round((cpu_after[name] - cpu_before[name]) / args.seconds, 2)
                            for name in cpu_after
                        }
                        inventory = our_inventory(tickets, ticket["id"])
                    else:
                        ticket = rowlock.add_ticket_type(peer_db, AMPLE_STOCK)
                        load, run = drive(
                            peer_url, ticket["event_id"], ticket["id"], connections, args.seconds
                        )
                        inventory = peer_inventory(peer_db, ticket["id"])
                    check = check_inventory(*inventory, load, run)
                    entry[side] = {"load": load, "check": check}
                    failed |= bool(check["problems"]) or check["oversold"] > 0
                    harness.settle(args.pause)
                results[connections].append(entry)
                ratio = entry["ours"]["load"]["confirmed_per_s"] / max(
                    entry["peer"]["load"]["confirmed_per_s"], 1e-9
                )
                print(f"round {round_number}, {connections} connections: ours/peer {ratio:.2f}x")
                for side in ("ours", "peer"):
                    print(summary_line(side, entry[side]["load"], entry[side]["check"]))
                print(f"  CPU (cores) of our processes: {entry['ours']['load']['cpu_share']}")
        if args.profile:
            for connections in args.connections:
                for name in PROFILED:
                    raw = args.profile / f"c{connections}" / f"{name}.txt"
                    if raw.exists():
                        print(f"profile {name} at {connections} connections (self time):")
                        for share, frame in harness.top_frames(raw, 12):
                            print(f"  {share:5.1f}%  {frame}")
    print_medians(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 1 if failed else 0


def print_medians(results: dict[int, list[dict]]) -> None:
    print("\nmedians over rounds:")
    print("| connections | side | confirmed holds/s | p50 ms | p99 ms | errors | oversold |")
    print("|---|---|---|---|---|---|---|")
    for connections, entries in results.items():
        for side in ("ours", "peer"):
            loads = [e[side]["load"] for e in entries]
            checks = [e[side]["check"] for e in entries]
            print(
                f"| {connections} | {side} "
                f"| {harness.median([x['confirmed_per_s'] for x in loads]):,.0f} "
                f"| {harness.median([x['p50_ms'] for x in loads]):.1f} "
                f"| {harness.median([x['p99_ms'] for x in loads]):.1f} "
                f"| {sum(x['errors_total'] for x in loads)} "
                f"| {sum(x['oversold'] for x in checks)} |"
            )
        ratios = [
            e["ours"]["load"]["confirmed_per_s"] / max(e["peer"]["load"]["confirmed_per_s"], 1e-9)
            for e in entries
        ]
        print(f"ratio ours/peer at {connections}: median {harness.median(ratios):.2f}x "
              f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip


# -- sell-out -----------------------------------------------------------------------------------


RETRIES = 3  # attempts per sell-out buyer when the connection breaks


async def buy_all(base_url: str, event_id: str, ticket_id: str, buyers: int, concurrency: int):
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    retried: list[int] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:

        async def buy(n: int) -> tuple[int, str | None]:
            # A buyer whose connection breaks retries with the same Idempotency-Key, as a real
            # client would: it can never get a second hold (a repeat answers 200, same order).
            key = f"sellout-{uuid.uuid4()}"
            for attempt in range(1, RETRIES + 1):
                try:
                    async with gate:
                        answer = await http.post(
                            "/orders",
                            json={"event_id": event_id, "ticket_id": ticket_id, "quantity": 1,
                                  "email": f"sellout{n}@example.com",
                                  "phone_number": "+254712345678"},
                            headers={"Idempotency-Key": key},
                        )  # fmt: skip
                    break
                except httpx.TransportError:
                    retried.append(n)
                    if attempt == RETRIES:
                        raise
            code = answer.json().get("code") if answer.status_code >= 400 else None
            return answer.status_code, code

        started = time.perf_counter()
        answers = await asyncio.gather(*(buy(n) for n in range(buyers)))
        if retried:
            print(f"  ({len(retried)} requests were sent again after a broken connection)")
        return answers, time.perf_counter() - started


def check_sellout(name: str, answers, seconds, stock, inventory) -> bool:
    total, sold, held, holds = inventory
    statuses: dict[str, int] = {}
    for status, code in answers:
        key = f"{status} {code}" if code else str(status)
        statuses[key] = statuses.get(key, 0) + 1
    repeats = statuses.pop("200", 0)  # a retried buyer whose first attempt had placed the order
    statuses["201"] = statuses.get("201", 0) + repeats
    expected = {"201": stock, "409 sold_out": len(answers) - stock}
    ok = statuses == expected and held == stock and len(holds) == stock and sold == 0
    print(f"  {name:<5} {len(answers)} buyers for {stock} in {seconds:.2f}s: {statuses}; "
          f"store: total {total}, held {held}, holds {len(holds)}, sold {sold} → "
          f"{'OK' if ok else 'WRONG (expected ' + str(expected) + ')'}")  # fmt: skip
    return ok


def sellout(args: argparse.Namespace) -> int:
    ok = True
    with ExitStack() as stack:
        ours_db, peer_db, system, peer_url = both_sides(stack, args)
        tickets = event_store_reader(ours_db)
        stack.callback(tickets.close)
        for round_number in range(1, args.rounds + 1):
            print(f"sell-out round {round_number}:")
            event, ticket = system.event_on_sale(args.stock)
            answers, seconds = asyncio.run(
                buy_all(system.base_url, event["id"], ticket["id"], args.buyers, args.concurrency)
            )
            ok &= check_sellout(
                "ours", answers, seconds, args.stock, our_inventory(tickets, ticket["id"])
            )
            peer = rowlock.add_ticket_type(peer_db, args.stock)
            answers, seconds = asyncio.run(
                buy_all(peer_url, peer["event_id"], peer["id"],
                        args.buyers, args.concurrency)
            )  # fmt: skip
            ok &= check_sellout(
                "peer", answers, seconds, args.stock, peer_inventory(peer_db, peer["id"])
            )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("rush", "sellout"), default="rush")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--connections", type=lambda s: [int(x) for x in s.split(",")], default=[64, 256]
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=2.0,
        help="seconds between measurements, before waiting for a quiet machine",
    )
    parser.add_argument("--peer-pool", type=int, default=16, help="the peer's PostgreSQL pool")
    parser.add_argument("--profile", type=Path, help="py-spy the first round into this folder")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for the system (repeatable)",
    )  # fmt: skip
    parser.add_argument("--stock", type=int, default=1000, help="sell-out: tickets")
    parser.add_argument("--buyers", type=int, default=4000, help="sell-out: buyers")
    parser.add_argument("--concurrency", type=int, default=256, help="sell-out: in flight")
    args = parser.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    print(f"command: {' '.join(sys.argv)}")
    return rush(args) if args.mode == "rush" else sellout(args)


if __name__ == "__main__":
    sys.exit(main())
