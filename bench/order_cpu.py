"""CPU per order of every process at a steady order rate the machine can carry: this checkout
against a baseline revision, in the same run.

On a shared two-core machine the throughput of a saturating rush moves with the host from one
minute to the next (the row-lock peer alone went from 850 to 660 orders/s within an hour). At a
rate that leaves the machine partly idle, both sides run in the same batching regime, so the
CPU each process spends per confirmed order compares the code rather than the host. Each side
starts the whole system (`ticketing run`, as `make run` does; the baseline from a temporary
worktree of its revision) on a fresh database, warms it up, then wrk sends POST /orders from
64 connections, each pausing 64/--rate seconds between its answer and its next request (so
the rate reached is a little under --rate, and printed). Printed per process, PostgreSQL's
server processes included: milliseconds of CPU per confirmed order; rounds alternate which
side goes first.

The figures are far above a rush's (about 5 ms per order at 300 orders/s against 1.3 ms at
1,200): every group commit, gRPC call and transaction has a fixed cost that a rush shares
among the orders of a batch and a slow trickle pays per order. Compare sides at one rate.

    .venv/bin/python bench/order_cpu.py --baseline 2f4acc6 [--rate 400] [--seconds 15]
        [--rounds 2] [--env NAME=VALUE]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

CONNECTIONS = 64
STOCK = 10_000_000
WARM_UP_SECONDS = 8


def paced_orders(base_url: str, event_id: str, ticket_id: str, rate: float, seconds: float) -> dict:
    env = {
        "BENCH_EVENT_ID": event_id, "BENCH_TICKET_ID": ticket_id,
        "BENCH_RUN": f"c{uuid.uuid4().hex[:10]}",
        "BENCH_DELAY_MS": str(max(1, round(CONNECTIONS * 1000 / rate))),
    }  # fmt: skip
    return harness.wrk(base_url, "orders.lua", CONNECTIONS, seconds, env)


def measure(root: Path, args: argparse.Namespace) -> dict:
    """One side: the system from `root`, warmed up, then a paced rush; CPU ms per order."""
    with ExitStack() as stack:
        database = stack.enter_context(harness.fresh_database("bench_cpu"))
        system = stack.enter_context(harness.running_system(database, args.env, root=root))
        event, ticket = system.event_on_sale(STOCK)
        paced_orders(system.base_url, event["id"], ticket["id"], args.rate, WARM_UP_SECONDS)
        children = system.children()
        before = {name: sum(t) for name, t in harness.cpu_times(children).items()}
        load = paced_orders(system.base_url, event["id"], ticket["id"], args.rate, args.seconds)
        after = {name: sum(t) for name, t in harness.cpu_times(children).items()}
    confirmed = load["pending_201"]
    if confirmed == 0 or load["errors_total"]:
        raise SystemExit(f"the rush at {root} failed: {load}")
    per_order = {n: 1000 * (after[n] - before[n]) / confirmed for n in after if n in before}
    per_order = {n: ms for n, ms in per_order.items() if ms >= 0.005}
    per_order["total"] = sum(per_order.values())
    return {
        "rate": confirmed / (load["duration_us"] / 1e6),
        "p50": load["p50_ms"], "p99": load["p99_ms"], "ms_per_order": per_order,
    }  # fmt: skip


def line(name: str, result: dict) -> str:
    processes = "  ".join(f"{n} {ms:.3f}" for n, ms in sorted(result["ms_per_order"].items()))
    return (
        f"  {name:<14} {result['rate']:6.0f} orders/s  p50 {result['p50']:6.1f} ms"
        f"  p99 {result['p99']:6.1f} ms  CPU ms/order: {processes}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a git revision to compare with (a worktree)")
    parser.add_argument("--rate", type=float, default=400.0, help="orders per second asked")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    print("command: bench/order_cpu.py " + " ".join(sys.argv[1:]), flush=True)
    with ExitStack() as stack:
        sides = {"this checkout": harness.ROOT}
        if args.baseline:
            sides[f"base {args.baseline}"] = stack.enter_context(harness.worktree(args.baseline))
        results: dict[str, list[dict]] = {name: [] for name in sides}
        for round_number in range(1, args.rounds + 1):
            order = list(sides) if round_number % 2 else list(reversed(sides))
            for name in order:
                results[name].append(measure(sides[name], args))
                time.sleep(2)
            print(f"round {round_number}:", flush=True)
            for name in sides:
                print(line(name, results[name][-1]), flush=True)
    print("\nmedian CPU ms per order over rounds:")
    names = sorted({n for rs in results.values() for r in rs for n in r["ms_per_order"]})
    print("| process | " + " | ".join(sides) + (" | ratio |" if len(sides) == 2 else " |"))
    print("|---" * (len(sides) + 1 + (len(sides) == 2)) + "|")
    for process in names:
        medians = [
            harness.median([r["ms_per_order"].get(process, 0.0) for r in results[name]])
            for name in sides
        ]
        ratio = f" {medians[0] / medians[1]:.2f}x |" if len(sides) == 2 and medians[1] else ""
        print(f"| {process} | " + " | ".join(f"{m:.3f}" for m in medians) + " |" + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
