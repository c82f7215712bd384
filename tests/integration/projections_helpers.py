"""Helpers for the projection and query API tests: real Redis, real Applications, a saga by hand.

Each test gets a Redis key root of its own (`test-<random>`), deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import orjson
import pytest
from redis.asyncio import Redis

from domain.concert import ConcertStatus
from domain.errors import NotOnSaleError, SoldOutError
from domain.money import Money
from domain.order import Order
from projections.keys import PAYMENTS_LOG, TICKETS_LOG, Generation, Keyspace
from projections.runner import RunnerOptions, run_projections
from projections.store import position_of
from services.common.http_problems import ProblemError
from services.common.identity import Identity
from services.common.settings import Settings
from services.payments.application import Orders
from services.tickets.application import Tickets

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FAST = RunnerOptions(
    batch_size=50, poll_interval=0.02, window_interval=0.02, restart_backoff=0.05, stop_grace=5
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextlib.asynccontextmanager
async def isolated_redis() -> AsyncIterator[tuple[Redis, str]]:
    """A client of the real Redis and a key root no other test uses; the root is wiped after."""
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except OSError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}", pytrace=False)
    root = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield redis, root
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{root}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def settings_for(store: str, tmp_path: Path, root: str, database_url: str | None) -> Settings:
    """Settings of a system on SQLite files (store "sqlite") or on PostgreSQL."""
    return Settings(
        database_url=database_url if store == "postgres" else None,
        redis_url=REDIS_URL,
        ticketing_data_dir=tmp_path / "data",
        ticketing_redis_namespace=root,
    )


@dataclass
class Shop:
    """The two Applications a test drives, and the saga steps the payments service would take."""

    tickets: Tickets
    orders: Orders
    clock: Clock

    @classmethod
    def open(cls, settings: Settings, clock: Clock) -> Shop:
        return cls(
            Tickets(env=settings.event_store_env("tickets"), clock=clock),
            Orders(env=settings.event_store_env("payments"), clock=clock),
            clock,
        )

    def close(self) -> None:
        self.tickets.close()
        self.orders.close()

    def concert(
        self,
        admin: str,
        title: str = "Sauti Sol",
        location: str = "Nairobi",
        *,
        days: float = 30,
        status: ConcertStatus | None = ConcertStatus.ACTIVE,
    ) -> UUID:
        concert_id = self.tickets.create_concert(
            title, "Farewell tour", location, NOW + timedelta(days=days), admin
        )
        if status is not None and status is not ConcertStatus.INACTIVE:
            self.tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, admin)
            if status is ConcertStatus.CANCELLED:
                self.tickets.change_concert_status(concert_id, status, admin)
        return concert_id

    def ticket_type(
        self,
        concert_id: UUID,
        admin: str,
        category: str = "VIP",
        price: str = "45.50",
        *,
        currency: str = "KES",
        stock: int = 10,
        opens: timedelta = timedelta(days=-1),
        closes: timedelta = timedelta(days=10),
    ) -> UUID:
        return self.tickets.add_ticket_type(
            concert_id,
            category,
            Money.parse(price, currency),
            stock,
            NOW + opens,
            NOW + closes,
            admin,
        )

    def hold(self, ticket_id: UUID, quantity: int, key: str | None = None) -> Order:
        """Place an order and hold its tickets, or reject it as the saga would."""
        ticket_type = self.tickets.get_ticket_type(ticket_id)
        key = key or uuid.uuid4().hex
        order, _ = self.orders.place_order(
            key,
            ticket_type.event_id,
            ticket_id,
            quantity,
            "buyer@example.com",
            "+254712345678",
            ticket_type.price,
        )
        expires_at = self.clock() + timedelta(minutes=1)
        try:
            self.tickets.reserve(ticket_id, order.id, quantity, expires_at)
        except (SoldOutError, NotOnSaleError) as error:
            return self.orders.reject(order.id, str(error))
        self.orders.mark_held(order.id, expires_at)
        return self.orders.attach_payment(order.id, f"pay-{key}", "https://pay.example/c")

    def pay(self, order: Order) -> Order:
        paid = self.orders.mark_paid(order.id, f"{order.payment_ref}", self.clock())
        self.tickets.confirm(order.ticket_id, order.id)
        return paid

    def decline(self, order: Order) -> Order:
        failed = self.orders.mark_failed(order.id, "declined")
        self.tickets.release(order.ticket_id, order.id)
        return failed

    def expire(self, order: Order) -> Order:
        """End an unpaid order once its hold has run out (moves the clock past it)."""
        assert order.hold_expires_at is not None
        self.clock.now = max(self.clock.now, order.hold_expires_at)
        expired = self.orders.mark_expired(order.id)
        self.tickets.expire(order.ticket_id, order.id)
        return expired

    def heads(self) -> dict[str, int]:
        """The last notification id of each log."""
        return {
            TICKETS_LOG: self.tickets.recorder.max_notification_id() or 0,
            PAYMENTS_LOG: self.orders.recorder.max_notification_id() or 0,
        }


async def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


async def wait_until_projected(redis: Redis, root: str, shop: Shop, timeout: float = 10.0) -> None:
    """Wait until the current generation has applied both logs up to their heads."""
    heads = await asyncio.to_thread(shop.heads)

    async def caught_up() -> bool:
        generation = await Keyspace(root).current(redis)
        if generation is None:
            return False
        return all([await position_of(redis, generation, log) >= n for log, n in heads.items()])

    await wait_until(caught_up, timeout, f"the projections to reach {heads}")


@contextlib.asynccontextmanager
async def running_projections(
    settings: Settings, redis: Redis, clock: Clock, options: RunnerOptions = FAST
) -> AsyncIterator[asyncio.Task[None]]:
    """The real runner in the background, stopped (gracefully) at the end."""
    stop_event = asyncio.Event()
    task = asyncio.create_task(
        run_projections(settings, redis, stop_event, clock=clock, options=options)
    )
    try:
        yield task
    finally:
        stop_event.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 15)


async def current(redis: Redis, root: str) -> Generation:
    generation = await Keyspace(root).current(redis)
    assert generation is not None
    return generation


async def stored(redis: Redis, root: str, key: Callable[[Generation], str]) -> Any:
    """A stored document (hash field json, or string) parsed, or None."""
    name = key(await current(redis, root))
    is_hash = await redis.type(name) == b"hash"
    raw = await redis.hget(name, "json") if is_hash else await redis.get(name)
    return None if raw is None else orjson.loads(raw)


class FakeTokenKeys:
    """Stands in for the users service's keys: a token is the name of a test identity."""

    IDENTITIES: ClassVar[dict[str, Identity]] = {
        "admin-1": Identity("admin-1", "admin", "gateway"),
        "admin-2": Identity("admin-2", "admin", "gateway"),
        "root": Identity("root", "superadmin", "gateway"),
        "auditor": Identity("auditor", "auditor", "gateway"),
    }

    async def verify(self, token: str) -> Identity:
        if token not in self.IDENTITIES:
            raise ProblemError(401, "the token is not valid")
        return self.IDENTITIES[token]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
