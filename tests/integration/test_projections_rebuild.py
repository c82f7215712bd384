"""`projections rebuild`: a fresh prefix, byte-identical documents, one atomic switch."""

from __future__ import annotations

import asyncio
import io
import threading

import httpx
import pytest

from domain.concert import ConcertStatus
from projections.cli import rebuild_command
from projections.keys import Keyspace
from projections.rebuild import rebuild
from query_api.main import create_query_app
from tests.integration.projections_helpers import (
    Clock,
    FakeTokenKeys,
    Shop,
    current,
    isolated_redis,
    running_projections,
    settings_for,
    stored,
    wait_until_projected,
)


@pytest.fixture
async def redis_root():
    async with isolated_redis() as pair:
        yield pair


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path, redis_root):
    url = request.getfixturevalue("fresh_database_url") if request.param == "postgres" else None
    return settings_for(request.param, tmp_path, redis_root[1], url)


@pytest.fixture
def shop(settings):
    shop = Shop.open(settings, Clock())
    yield shop
    shop.close()


async def snapshot(redis, prefix: str) -> dict:
    """Every key under prefix (named without it) with its whole value."""
    values = {}
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        kind = await redis.type(key)
        if kind == b"string":
            value = await redis.get(key)
        elif kind == b"hash":
            value = await redis.hgetall(key)
        else:
            value = await redis.zrange(key, 0, -1, withscores=True)
        values[key.decode().removeprefix(prefix)] = value
    return values


def a_season(shop: Shop):
    """Two admins' events in every state, with paid, declined, pending and expired orders."""
    main = shop.concert("admin-1")
    vip = shop.ticket_type(main, "admin-1", "VIP", "45.50", stock=20)
    later = shop.concert("admin-2", "Bien", "Mombasa", days=60)
    early_bird = shop.ticket_type(later, "admin-2", "Early", "12.00", currency="USD")
    shop.concert("admin-1", "Rehearsal", days=5, status=ConcertStatus.INACTIVE)
    shop.pay(shop.hold(vip, 2))
    shop.decline(shop.hold(vip, 1))
    shop.hold(early_bird, 3)
    shop.expire(shop.hold(vip, 1))
    return main, vip


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_rebuild_writes_byte_identical_read_models_and_drops_the_old_prefix(
    settings, redis_root, shop
):
    redis, root = redis_root
    a_season(shop)
    async with running_projections(settings, redis, shop.clock):
        await wait_until_projected(redis, root, shop)
    old = await current(redis, root)
    before = await snapshot(redis, old.prefix)
    progress = io.StringIO()

    new = await rebuild(settings, redis, clock=shop.clock, grace_seconds=0, out=progress)

    assert new != old
    assert await current(redis, root) == new
    assert await snapshot(redis, new.prefix) == before
    assert await snapshot(redis, old.prefix) == {}
    assert "tickets log" in progress.getvalue()
    assert "payments log" in progress.getvalue()
    assert "(100%)" in progress.getvalue()


async def test_readers_keep_reading_and_sales_are_kept_exactly_once_across_a_rebuild(
    settings, redis_root, shop
):
    redis, root = redis_root
    main, vip = a_season(shop)
    app = create_query_app(settings, redis, FakeTokenKeys())
    transport = httpx.ASGITransport(app=app)
    answers: list[tuple[int, int]] = []
    reading = True

    async def read_all_the_time(client):
        while reading:
            document = await client.get(f"/events/{main}")
            listing = await client.get("/events")
            answers.append((document.status_code, len(listing.json()["items"])))

    def rush():
        for _ in range(8):
            shop.pay(shop.hold(vip, 1))

    async with (
        running_projections(settings, redis, shop.clock),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        await wait_until_projected(redis, root, shop)
        reader = asyncio.create_task(read_all_the_time(client))
        buyers = threading.Thread(target=rush)
        buyers.start()
        old = await current(redis, root)
        new = await rebuild(settings, redis, clock=shop.clock, grace_seconds=0, out=io.StringIO())
        await asyncio.to_thread(buyers.join)
        await asyncio.to_thread(lambda: shop.pay(shop.hold(vip, 1)))  # after the switch
        await wait_until_projected(redis, root, shop)
        reading = False
        await reader

    assert new != old
    assert len(answers) > 10
    assert set(answers) == {(200, 2)}
    vip_type = shop.tickets.get_ticket_type(vip)
    insights = await stored(redis, root, lambda g: g.insights_doc(str(main)))
    assert insights["tickets"][0]["sold"] == vip_type.sold == 11
    assert insights["orders"]["paid"] == 10
    assert await redis.get(Keyspace(root).pointer) == new.prefix.encode()
    assert not [key async for key in redis.scan_iter(match=f"{old.prefix}:*")]


def test_the_rebuild_command_refuses_to_run_without_a_redis_url(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert rebuild_command(type("Args", (), {"grace_seconds": 0})()) == 1
    assert "REDIS_URL is not set" in capsys.readouterr().err


async def test_the_first_generation_is_made_on_demand_and_then_kept(redis_root):
    redis, root = redis_root
    keyspace = Keyspace(root)
    assert await keyspace.current(redis) is None
    first = await keyspace.ensure_current(redis)
    assert await keyspace.ensure_current(redis) == first
    assert await keyspace.current(redis) == first
