"""Where an order's time goes: every stage of POST /orders, across the processes, in a rush.

Starts the whole system (bench/harness.py, as `make run` does) with TICKETING_STAGE_TRACE set,
so that the gateway, the payments service and the sandbox mark each order as it passes
(services/common/stages.py), and every group-commit batch as it is taken and answered. Then a
2 s warm-up and a rush of --seconds at --connections (wrk, as bench/flash_sale.py drives it),
and the system is stopped, which writes the marks. The orders that entered the gateway in the
middle 60 % of the rush are joined by Idempotency-Key and order id, and each stage's mean,
p50 and p90 printed in the order an order meets them; then, per batch queue, how many
batches, their mean size and how long one took from being taken to being answered.

The marks cost some CPU (a line each, about 20 per order): compare stages within one run,
and holds/s with bench/rush_ab.py or bench/flash_sale.py, which mark nothing.

    .venv/bin/python bench/stage_trace.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.flash_sale import AMPLE_STOCK, drive

# (from, to, what the time between the two marks is), in the order an order meets them.
STAGES = [
    ("g_in", "g_call", "gateway: waits for a PlaceOrders lane"),
    ("g_call", "p_item", "gRPC call to payments, until its order starts"),
    ("p_item", "p_order", "payments: the order's checks"),
    ("p_order", "p_pay", "payments: until its payment request starts"),
    ("p_pay", "s_in", "HTTP to the sandbox, until its handler starts"),
    ("s_in", "s_created", "sandbox: the payment's group-commit insert"),
    ("s_created", "s_out", "sandbox: the answer written"),
    ("s_out", "p_paid", "HTTP answer back, until the saga resumes"),
    ("p_hold", "p_held", "the hold (ReserveBatch), alongside the payment"),
    ("p_paid", "p_save", "payments: waits for the hold, if it is slower"),
    ("p_save", "p_saved", "payments: the order's group-commit save"),
    ("p_saved", "p_done", "payments: waits for the call's slowest order"),
    ("p_done", "g_ret", "gRPC answer back to the gateway"),
    ("g_ret", "g_out", "gateway: the HTTP answer written"),
    ("g_in", "g_out", "in the gateway, all told"),
]
ORDER_ID_MARKS = {"p_hold", "p_held", "p_pay", "p_paid", "p_save", "p_saved"}


def read_marks(folder: Path) -> Iterable[tuple[str, str, float]]:
    """Every mark of every process: (stage, key, unix time)."""
    for path in sorted(folder.glob("*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            stage, key, moment = line.split("\t")
            yield stage, key, float(moment)


def orders_and_batches(
    marks: Iterable[tuple[str, str, float]],
) -> tuple[list[dict[str, float]], dict[str, dict[str, float]]]:
    """Each order's marks (by Idempotency-Key), and each batch's (by queue#n#size)."""
    by_key: dict[str, dict[str, float]] = defaultdict(dict)
    by_order_id: dict[str, dict[str, float]] = defaultdict(dict)
    batches: dict[str, dict[str, float]] = defaultdict(dict)
    key_of: dict[str, str] = {}
    for stage, key, moment in marks:
        if stage == "p_order":
            idempotency_key, _, order_id = key.rpartition("=")
            key_of[order_id] = idempotency_key
            by_key[idempotency_key].setdefault(stage, moment)
        elif stage.startswith("b_"):
            batches[key].setdefault(stage, moment)
        elif stage.startswith("s_"):  # the sandbox sees "<order id>.<request>"
            by_order_id[key.partition(".")[0]].setdefault(stage, moment)
        elif stage in ORDER_ID_MARKS:
            by_order_id[key].setdefault(stage, moment)
        else:
            by_key[key].setdefault(stage, moment)
    for order_id, seen in by_order_id.items():
        if order_id in key_of:
            by_key[key_of[order_id]].update(seen)
    return list(by_key.values()), dict(batches)


def middle(orders: list[dict[str, float]], start: float = 0.2, end: float = 0.8) -> list[dict]:
    """The orders that entered the gateway between these fractions of the rush."""
    entered = sorted(order["g_in"] for order in orders if "g_in" in order)
    if not entered:
        return []
    first, last = entered[0], entered[-1]
    low, high = first + start * (last - first), first + end * (last - first)
    return [order for order in orders if low <= order.get("g_in", -1.0) <= high]


def summary(durations_ms: list[float]) -> tuple[float, float, float]:
    """Mean, p50 and p90."""
    ordered = sorted(durations_ms)
    return (
        statistics.fmean(ordered),
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))],
    )


def stage_rows(orders: list[dict[str, float]]) -> list[tuple[str, int, float, float, float]]:
    """(stage, orders measured, mean, p50, p90 in ms) for each stage some order passed."""
    rows = []
    for start, end, what in STAGES:
        durations = [1000 * (o[end] - o[start]) for o in orders if start in o and end in o]
        if durations:
            rows.append((what, len(durations), *summary(durations)))
    return rows


def batch_rows(
    batches: dict[str, dict[str, float]], low: float, high: float
) -> list[tuple[str, int, float, float, float, float]]:
    """(queue, batches, mean size, mean/p50/p90 ms taken to answered) for those taken in
    [low, high]."""
    queues: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for key, seen in batches.items():
        if "b_take" in seen and "b_done" in seen and low <= seen["b_take"] <= high:
            queue, _, size = key.split("#")
            queues[queue].append((int(size), 1000 * (seen["b_done"] - seen["b_take"])))
    return [
        (queue, len(items), statistics.fmean(size for size, _ in items),
         *summary([took for _, took in items]))
        for queue, items in sorted(queues.items())
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    with (
        harness.fresh_database("bench_stages") as database,
        harness.running_system(database, {"TICKETING_STAGE_TRACE": str(folder)}) as system,
    ):
        event, ticket = system.event_on_sale(AMPLE_STOCK)
        drive(system.base_url, event["id"], ticket["id"], args.connections, 2)  # warm-up
        load, _ = drive(system.base_url, event["id"], ticket["id"], args.connections, args.seconds)
    # Stopped: every process has written its marks.
    orders, batches = orders_and_batches(read_marks(folder))
    measured = middle(orders)
    if not measured:
        print(f"no order went through the gateway's fast path: no marks to join in {folder}")
        return 1
    print(
        f"{load['confirmed_per_s']:,.0f} holds/s, p50 {load['p50_ms']:.1f} ms, "
        f"p99 {load['p99_ms']:.1f} ms at {args.connections} connections (marks on); "
        f"{len(measured):,} orders from the middle of the rush (marks in {folder})"
    )
    print("| stage | orders | mean ms | p50 ms | p90 ms |\n|---|---|---|---|---|")
    for what, count, mean, p50, p90 in stage_rows(measured):
        print(f"| {what} | {count:,} | {mean:.2f} | {p50:.2f} | {p90:.2f} |")
    entered = [order["g_in"] for order in measured]
    print("\n| batch queue | batches | mean size | mean ms | p50 ms | p90 ms |")
    print("|---|---|---|---|---|---|")
    for queue, count, size, mean, p50, p90 in batch_rows(batches, min(entered), max(entered)):
        print(f"| {queue} | {count:,} | {size:.1f} | {mean:.2f} | {p50:.2f} | {p90:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
