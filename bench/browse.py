"""Browsing: GET /events/{id} and GET /events against a bare Starlette + Redis endpoint.

Starts the whole system (bench/harness.py), creates a few events with tickets and waits for
their read models, then copies the event's stored document into a key of its own for the
peer (bench/peers/bare_redis.py, one uvicorn worker, one Redis GET per request). In the same
run, with the same wrk settings, it measures each path on ours and on the peer, alternating
who goes first, and prints requests/s, p50/p99 and status counts.

    .venv/bin/python bench/browse.py                     # 3 rounds, 64 connections, 10 s
    .venv/bin/python bench/browse.py --env TICKETING_GATEWAY_WORKERS=2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness

EVENTS = 20


def wait_for_read_model(base_url: str, event_id: str) -> bytes:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base_url}/events/{event_id}", timeout=10)
        if answer.status_code == 200 and answer.json()["tickets"]:
            return answer.content
        time.sleep(0.2)
    raise RuntimeError(f"the read model of {event_id} never appeared")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    print(f"command: {' '.join(sys.argv)}")
    rows: dict[tuple[str, str], list[dict]] = {}
    with ExitStack() as stack:
        database = stack.enter_context(harness.fresh_database("bench_browse"))
        system = stack.enter_context(harness.running_system(database, extra_env=extra_env))
        events = [system.event_on_sale(1000)[0] for _ in range(EVENTS)]
        document = wait_for_read_model(system.base_url, events[-1]["id"])
        key = f"bench-browse-{uuid.uuid4().hex[:8]}"
        store = redis.Redis.from_url(system.env["REDIS_URL"])
        store.set(key, document)
        stack.callback(store.close)
        stack.callback(store.delete, key)
        port = harness.free_port()
        log = Path(tempfile.mkdtemp(prefix="bench-bare-")) / "bare.log"
        stack.enter_context(
            harness.server_process(
                [
                    sys.executable,
                    str(harness.ROOT / "bench/peers/bare_redis.py"),
                    "--redis-url",
                    system.env["REDIS_URL"],
                    "--key",
                    key,
                    "--port",
                    str(port),
                ],
                f"http://127.0.0.1:{port}/healthz",
                log,
            )
        )
        bases = {"ours": system.base_url, "bare": f"http://127.0.0.1:{port}"}
        paths = {"GET /events/{id}": f"/events/{events[-1]['id']}", "GET /events": "/events"}
        for round_number in range(1, args.rounds + 1):
            sides = ["ours", "bare"] if round_number % 2 else ["bare", "ours"]
            for label, path in paths.items():
                for side in sides:
                    url = bases[side] + path
                    load = harness.wrk(url, "get.lua", args.connections, args.seconds)
                    rows.setdefault((label, side), []).append(load)
                    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load["statuses"].items()))
                    print(f"round {round_number} {label:<17} {side:<4} {load['rps']:8.0f} req/s"
                          f"  p50 {load['p50_ms']:6.1f} ms  p99 {load['p99_ms']:6.1f} ms"
                          f"  [{statuses}]  errors {load['errors_total']}")  # fmt: skip
                    harness.settle(1)
    print("\nmedians over rounds:")
    print("| path | side | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for (label, side), loads in rows.items():
        print(f"| {label} | {side} | {harness.median([x['rps'] for x in loads]):,.0f} "
              f"| {harness.median([x['p50_ms'] for x in loads]):.1f} "
              f"| {harness.median([x['p99_ms'] for x in loads]):.1f} "
              f"| {sum(x['errors_total'] for x in loads)} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
