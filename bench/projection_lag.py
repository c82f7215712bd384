"""Projection lag: from a hold's gRPC reply to its effect in Redis, during a flash sale.

Starts the whole system (bench/harness.py) and rushes one ticket type with wrk as
bench/flash_sale.py does. Meanwhile a probe places an order every 50 ms on a second ticket
type of the same event by calling the tickets service's Reserve over gRPC, as the payments
service does (a hold with no order behind it, in the benchmark's throwaway database); the
moment the reply arrives the tickets are held, and the probe polls the
ticket's document in Redis (the one GET /events/{id}/tickets serves) until its `remaining`
shows the hold. The projector follows one log in commit order, so the probe's events queue
behind the rush's. Prints p50/p99/max lag in milliseconds, and the CPU the projections
process used (utime + stime from /proc) per 1,000 holds during the rush and while idle.

    .venv/bin/python bench/projection_lag.py                  # 64 connections, 20 s
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import uuid
from pathlib import Path

import grpc
import orjson
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import UTC, datetime, timedelta

from bench import harness
from bench.flash_sale import AMPLE_STOCK, drive
from projections.keys import Keyspace
from protos.ticketing.v1 import tickets_pb2, tickets_pb2_grpc
from services.common.identity import identity_metadata
from services.common.protobuf import timestamp
from services.common.settings import Settings
from services.payments.tickets_client import PAYMENTS


async def remaining_in_redis(redis: Redis, keys: Keyspace, event_id: str, ticket_id: str) -> int:
    generation = await keys.current(redis)
    if generation is None:
        return -1
    body = await redis.hget(generation.tickets_doc(event_id), "json")
    if body is None:
        return -1
    tickets = orjson.loads(body)["items"]
    return next(t["remaining"] for t in tickets if t["id"] == ticket_id)


async def probe(system: harness.System, event_id: str, ticket_id: str, seconds: float) -> list:
    settings = Settings(ticketing_data_dir=Path(system.env["TICKETING_DATA_DIR"]))
    metadata = identity_metadata(PAYMENTS, settings.secret("internal"))
    redis = Redis.from_url(system.env["REDIS_URL"])
    keys = Keyspace(system.env["TICKETING_REDIS_NAMESPACE"])
    lags = []
    async with grpc.aio.insecure_channel(system.env["TICKETING_TICKETS_ADDR"]) as channel:
        tickets = tickets_pb2_grpc.TicketsServiceStub(channel)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            before = await remaining_in_redis(redis, keys, event_id, ticket_id)
            await tickets.Reserve(
                tickets_pb2.ReserveRequest(
                    ticket_type_id=ticket_id, order_id=str(uuid.uuid4()), quantity=1,
                    expires_at=timestamp(datetime.now(UTC) + timedelta(minutes=15)),
                ),
                metadata=metadata, timeout=30,
            )  # fmt: skip
            replied = time.perf_counter()
            while await remaining_in_redis(redis, keys, event_id, ticket_id) != before - 1:
                await asyncio.sleep(0.001)
            lags.append(1000 * (time.perf_counter() - replied))
            await asyncio.sleep(0.05)
    await redis.aclose()
    return lags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    print(f"command: {' '.join(sys.argv)}")
    with (
        harness.fresh_database("bench_lag") as database,
        harness.running_system(database, extra_env=extra_env) as system,
    ):
        event, hot = system.event_on_sale(AMPLE_STOCK)
        with harness.httpx.Client(base_url=system.base_url, headers=system.auth) as http:
            quiet = http.post(f"/admin/events/{event['id']}/tickets", json={
                "category": "Probe", "price": "10.00", "currency": "KES",
                "total_stock": 100_000, "sales_start": hot["sales_start"],
                "sales_end": hot["sales_end"],
            })  # fmt: skip
            quiet.raise_for_status()
        projections = {"projections": system.children()["projections"]}
        idle_from = harness.cpu_seconds(projections)["projections"]
        time.sleep(2)  # the read model of the new ticket type
        idle_cores = (harness.cpu_seconds(projections)["projections"] - idle_from) / 2
        rush: dict = {}
        loader = threading.Thread(
            target=lambda: rush.update(
                drive(system.base_url, event["id"], hot["id"], args.connections, args.seconds)[0]
            )
        )
        cpu_from, started = harness.cpu_seconds(projections)["projections"], time.monotonic()
        loader.start()
        time.sleep(1)
        lags = asyncio.run(probe(system, event["id"], quiet.json()["id"], args.seconds - 2))
        loader.join()
        cpu = harness.cpu_seconds(projections)["projections"] - cpu_from
        elapsed = time.monotonic() - started
    lags.sort()
    holds = rush["pending_201"] + len(lags)  # the rush's and the probe's

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(p / 100 * len(lags)))]

    print(f"rush: {rush['confirmed_per_s']:.0f} confirmed holds/s at {args.connections} "
          f"connections, p99 {rush['p99_ms']:.1f} ms, statuses {rush['statuses']}")  # fmt: skip
    print(f"projection lag over {len(lags)} probes: p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, "
          f"max {lags[-1]:.1f} ms")  # fmt: skip
    per_1000, cores = 1000 * cpu / holds, cpu / elapsed
    print(f"projections CPU: {per_1000:.3f} s per 1,000 holds ({cores:.3f} cores over "
          f"{elapsed:.0f} s, {holds} holds; idle before: {idle_cores:.3f} cores)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
