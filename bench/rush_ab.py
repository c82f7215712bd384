"""Ours alone, A against B: a saturating rush on each of several checkouts or configurations.

Each side is the whole system as `flash_sale.py` starts it (a fresh database each), from a
checkout (this one, or a worktree of another revision) with extra environment if asked. All
sides are up at once; rounds alternate which side goes first, each a 2 s warm-up then a
measured rush at 64 connections on a fresh ticket type. Per side and round it prints the
confirmed holds/s, p50/p99, and each process's CPU per confirmed order, user + system, from
/proc (PostgreSQL's server processes included). The rush moves ±15 % with the shared host
between runs; the alternation puts both sides in the same conditions. The row-lock peer is not
run: `flash_sale.py` is the comparison with it.

    .venv/bin/python bench/rush_ab.py . --baseline 9a79852 --rounds 3
    .venv/bin/python bench/rush_ab.py ".|TICKETING_GATEWAY_WORKERS=1" \
        ".|TICKETING_GATEWAY_WORKERS=2"
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

import harness
from flash_sale import drive

STOCK = 10_000_000


def side_spec(spec: str, baseline: Path | None) -> tuple[Path, dict[str, str]]:
    """'PATH|NAME=VALUE,NAME=VALUE' (PATH 'base' for the --baseline worktree)."""
    path, _, extra = spec.partition("|")
    root = baseline if path == "base" and baseline is not None else Path(path).resolve()
    return root, dict(pair.split("=", 1) for pair in extra.split(",") if pair)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sides", nargs="+", help="checkout[|NAME=VALUE,...]; 'base' = --baseline")
    parser.add_argument("--baseline", help="a git revision, run from a worktree as side 'base'")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}", flush=True)
    sides = list(args.sides) + (["base"] if args.baseline and "base" not in args.sides else [])
    rates: dict[str, list[float]] = {side: [] for side in sides}
    with ExitStack() as stack:
        base = stack.enter_context(harness.worktree(args.baseline)) if args.baseline else None
        systems = {}
        for side in sides:
            root, env = side_spec(side, base)
            database = stack.enter_context(harness.fresh_database("bench_rush_ab"))
            systems[side] = stack.enter_context(harness.running_system(database, env, root=root))
        for round_number in range(args.rounds):
            for side in sides if round_number % 2 == 0 else sides[::-1]:
                system = systems[side]
                event, ticket = system.event_on_sale(STOCK)
                drive(system.base_url, event["id"], ticket["id"], args.connections, 2)  # warm-up
                processes = system.children()
                before = harness.cpu_times(processes)
                load, _ = drive(
                    system.base_url, event["id"], ticket["id"], args.connections, args.seconds
                )
                after = harness.cpu_times(processes)
                orders = max(load["pending_201"], 1)
                per_order = {
                    name: tuple(
                        1000 * (a - b) / orders
                        for a, b in zip(after[name], before[name], strict=True)
                    )
                    for name in after
                    if name in before
                }
                total = sum(user + system_ for user, system_ in per_order.values())
                shown = " ".join(
                    f"{name} {user:.3f}+{system_:.3f}"
                    for name, (user, system_) in per_order.items()
                    if user + system_ >= 0.005
                )
                print(
                    f"round {round_number + 1} {side}: {load['confirmed_per_s']:,.0f} holds/s"
                    f"  p50 {load['p50_ms']:.1f} p99 {load['p99_ms']:.1f} ms"
                    f"  errors {load['errors_total']}  CPU ms/order {total:.3f} (user+system:"
                    f" {shown})",
                    flush=True,
                )
                rates[side].append(load["confirmed_per_s"])
                harness.settle(2)
    for side, values in rates.items():
        print(f"{side}: median {harness.median(values):,.0f} holds/s over {values}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
