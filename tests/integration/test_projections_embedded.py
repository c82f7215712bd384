"""The embedded mode: no REDIS_URL, so the runner and the read API share one fakeredis."""

from __future__ import annotations

import asyncio

import fakeredis
import httpx

from projections.connection import connect_redis
from query_api.main import create_query_app
from services.common.settings import Settings
from tests.integration.projections_helpers import (
    Clock,
    FakeTokenKeys,
    Shop,
    bearer,
    running_projections,
    wait_until_projected,
)


async def test_without_a_redis_url_the_runner_and_read_api_share_an_in_memory_redis(tmp_path):
    settings = Settings(
        database_url=None,
        redis_url=None,
        ticketing_data_dir=tmp_path / "data",
        ticketing_redis_namespace="ticketing",
    )
    redis = connect_redis(settings)
    assert isinstance(redis, fakeredis.FakeAsyncRedis)
    shop = Shop.open(settings, Clock())
    try:
        event = shop.concert("admin-1")
        ticket = shop.ticket_type(event, "admin-1", price="20.00", stock=5)
        pubsub = redis.pubsub()
        await pubsub.subscribe("ticketing:insights")
        async with running_projections(settings, redis, shop.clock):
            await asyncio.to_thread(lambda: shop.pay(shop.hold(ticket, 2)))
            await wait_until_projected(redis, "ticketing", shop)
        announced = [await pubsub.get_message(timeout=1) for _ in range(2)][-1]
        await pubsub.aclose()
        app = create_query_app(settings, redis, FakeTokenKeys())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            document = (await client.get(f"/events/{event}")).json()
            insights = (
                await client.get(f"/admin/events/{event}/insights", headers=bearer("admin-1"))
            ).json()
        remaining = shop.tickets.get_ticket_type(ticket).remaining
    finally:
        shop.close()
        await redis.aclose()
    assert announced["type"] == "message"
    assert announced["data"] == f'{{"event_id":"{event}","admin_id":"admin-1"}}'.encode()
    assert document["tickets"][0]["remaining"] == remaining == 3
    assert (insights["orders"]["paid"], insights["revenue"]) == (1, "40.00")
