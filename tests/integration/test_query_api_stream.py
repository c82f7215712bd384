"""GET /admin/insights/stream over a real server: insights after a sale, heartbeats, isolation."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from projections.keys import Keyspace
from query_api.admin import admin_read_router
from query_api.main import create_query_app
from services.common.http_problems import install_problem_handlers
from tests.integration.projections_helpers import (
    Clock,
    FakeTokenKeys,
    Shop,
    bearer,
    isolated_redis,
    running_projections,
    settings_for,
    wait_until,
    wait_until_projected,
)
from tests.ports import a_free_port


@contextlib.asynccontextmanager
async def serving(app: FastAPI):
    """The app on a real uvicorn server on a free port; yields its base URL."""
    port = a_free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def shop_on_sale(tmp_path):
    """A running projector over two admins' events on sale; yields what the tests need."""
    async with isolated_redis() as (redis, root):
        settings = settings_for("sqlite", tmp_path, root, None)
        shop = Shop.open(settings, Clock())
        event = shop.concert("admin-1")
        ticket = shop.ticket_type(event, "admin-1", price="20.00")
        async with running_projections(settings, redis, shop.clock):
            await wait_until_projected(redis, root, shop)
            yield settings, redis, root, shop, event, ticket
        shop.close()


async def next_insights(lines, sold: int) -> dict:
    """Read SSE lines up to the `insights` event whose document counts `sold` tickets sold.

    The order's payment (payments log) and the tickets' confirmation (tickets log) land in two
    announcements; the second one shows both.
    """
    name = None
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name == "insights":
            document = orjson.loads(line.removeprefix("data: "))
            if sum(t["sold"] for t in document["tickets"]) == sold and document["orders"]["paid"]:
                return document
    raise AssertionError("the stream ended")


async def test_the_stream_sends_the_events_insights_after_a_sale(shop_on_sale):
    settings, redis, _, shop, event, ticket = shop_on_sale
    app = create_query_app(settings, redis, FakeTokenKeys())
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", "/admin/insights/stream", headers=bearer("admin-1")) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await anext(lines) == ": subscribed"
        await asyncio.to_thread(lambda: shop.pay(shop.hold(ticket, 2)))
        insights = await asyncio.wait_for(next_insights(lines, sold=2), 10)
    assert insights["event_id"] == str(event)
    assert (insights["tickets"][0]["sold"], insights["revenue"]) == (2, "40.00")


async def test_a_stream_carries_only_what_the_caller_may_see_and_beats_while_idle(shop_on_sale):
    _, redis, root, shop, event, ticket = shop_on_sale
    app = FastAPI()
    app.state.token_keys = FakeTokenKeys()
    install_problem_handlers(app)
    app.include_router(admin_read_router(redis, namespace=root, heartbeat_seconds=0.2))
    channel = Keyspace(root).insights_channel
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with (
            client.stream("GET", "/admin/insights/stream", headers=bearer("admin-2")) as other,
            client.stream("GET", "/admin/insights/stream", headers=bearer("auditor")) as auditor,
        ):
            other_lines, auditor_lines = other.aiter_lines(), auditor.aiter_lines()
            assert await anext(other_lines) == ": subscribed"
            assert await anext(auditor_lines) == ": subscribed"
            await asyncio.to_thread(lambda: shop.pay(shop.hold(ticket, 1)))
            seen = await asyncio.wait_for(next_insights(auditor_lines, sold=1), 10)
            others = await lines_for(other_lines, seconds=0.8)
        assert seen["event_id"] == str(event)
        assert not [line for line in others if line.startswith(("event:", "data:"))]
        assert others.count(": heartbeat") >= 2
        await wait_until(lambda: no_subscribers(redis, channel), 5, "the streams to unsubscribe")
        refused = await client.get("/admin/insights/stream")
        assert refused.status_code == 401


async def lines_for(lines, seconds: float) -> list[str]:
    """Every line a stream sends within the next seconds."""
    received: list[str] = []

    async def collect():
        async for line in lines:
            received.append(line)  # noqa: PERF401  (kept line by line: a timeout ends it)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(collect(), seconds)
    return received


async def no_subscribers(redis, channel: str) -> bool:
    return dict(await redis.pubsub_numsub(channel))[channel.encode()] == 0
