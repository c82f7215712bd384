"""The tracking guarantee: positions move with the updates, so nothing is counted twice."""

from __future__ import annotations

import asyncio
import logging

import pytest

from projections.follow import PollingFollower, SubscriptionFollower, open_follower
from projections.keys import PAYMENTS_LOG, Keyspace
from projections.projectors import CatalogueProjector, Projector, SalesProjector
from projections.rebuild import catch_up
from projections.runner import RunnerOptions, run_projections
from projections.store import position_of
from tests.integration.projections_helpers import (
    Clock,
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
def store(request):
    return request.param


@pytest.fixture
def settings(request, store, tmp_path, redis_root):
    url = request.getfixturevalue("fresh_database_url") if store == "postgres" else None
    return settings_for(store, tmp_path, redis_root[1], url)


@pytest.fixture
def shop(settings):
    shop = Shop.open(settings, Clock())
    yield shop
    shop.close()


def sell(shop: Shop, orders: int) -> tuple:
    event = shop.concert("admin-1")
    ticket = shop.ticket_type(event, "admin-1", price="25.00", stock=100)
    for _ in range(orders):
        shop.pay(shop.hold(ticket, 1))
    return event, ticket


async def replay_from_scratch(redis, root, shop):
    """A new generation (not made current) filled by replaying both logs from the start."""
    keyspace = Keyspace(root)
    generation = keyspace.new_generation()
    for kind, app in ((CatalogueProjector, shop.tickets), (SalesProjector, shop.orders)):
        projector = kind(app, redis, keyspace, clock=shop.clock)
        await catch_up(projector, generation, require_current=False)
    return generation


async def test_a_runner_killed_between_batches_resumes_without_double_counting(
    settings, redis_root, shop, monkeypatch
):
    redis, root = redis_root
    event, _ = sell(shop, 12)
    options = RunnerOptions(batch_size=5, poll_interval=0.02, window_interval=0.02)
    task = asyncio.create_task(
        run_projections(settings, redis, asyncio.Event(), clock=shop.clock, options=options)
    )
    original, batches = Projector.apply, []

    async def apply_then_die(self, generation, batch, **kwargs):
        applied = await original(self, generation, batch, **kwargs)
        if self.log == PAYMENTS_LOG:
            batches.append(batch.end)
            if len(batches) == 3:
                task.cancel()  # the process dies right after its third payments batch
        return applied

    monkeypatch.setattr(Projector, "apply", apply_then_die)
    await asyncio.gather(task, return_exceptions=True)
    monkeypatch.undo()
    killed_at = await position_of(redis, await current(redis, root), PAYMENTS_LOG)
    assert killed_at == batches[-1] < shop.heads()[PAYMENTS_LOG]

    async with running_projections(settings, redis, shop.clock, options):
        await wait_until_projected(redis, root, shop)
    insights = await stored(redis, root, lambda g: g.insights_doc(str(event)))
    assert insights["orders"]["paid"] == 12
    assert (insights["tickets"][0]["sold"], insights["revenue"]) == (12, "300.00")
    replayed = await replay_from_scratch(redis, root, shop)
    g = await current(redis, root)
    assert await redis.hget(g.insights_doc(str(event)), "json") == await redis.hget(
        replayed.insights_doc(str(event)), "json"
    )


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_a_notification_applied_twice_is_counted_once(redis_root, shop):
    redis, root = redis_root
    event, ticket = sell(shop, 3)
    keyspace = Keyspace(root)
    generation = await keyspace.ensure_current(redis)
    await catch_up(CatalogueProjector(shop.tickets, redis, keyspace, clock=shop.clock), generation)
    notifications = shop.orders.notification_log.select(1, 1000)
    first = SalesProjector(shop.orders, redis, keyspace, clock=shop.clock)
    assert await first.apply(generation, first.digest(notifications))
    before = await redis.hget(generation.insights_doc(str(event)), "json")

    restarted = SalesProjector(shop.orders, redis, keyspace, clock=shop.clock)  # empty cache
    assert not await restarted.apply(generation, restarted.digest(notifications))
    assert not await restarted.apply(generation, restarted.digest(notifications[:5]))
    assert await redis.hget(generation.insights_doc(str(event)), "json") == before

    shop.pay(shop.hold(ticket, 2))  # a batch that overlaps what was applied
    everything = shop.orders.notification_log.select(1, 1000)
    assert await restarted.apply(generation, restarted.digest(everything))
    insights = await stored(redis, root, lambda g: g.insights_doc(str(event)))
    assert (insights["orders"]["paid"], insights["revenue"]) == (4, "125.00")


async def test_a_failing_projector_is_logged_and_restarted_from_its_stored_position(
    settings, redis_root, shop, monkeypatch, caplog
):
    redis, root = redis_root
    event, _ = sell(shop, 6)
    failures = {"tickets": 0, "payments": 0}
    original = Projector.apply

    async def flaky_apply(self, generation, batch, **kwargs):
        if self.log == "tickets" and failures["tickets"] == 0:
            failures["tickets"] += 1
            raise RuntimeError("Redis went away before EXEC")
        applied = await original(self, generation, batch, **kwargs)
        if self.log == PAYMENTS_LOG and failures["payments"] == 0:
            failures["payments"] += 1
            raise RuntimeError("Redis went away after EXEC")
        return applied

    monkeypatch.setattr(Projector, "apply", flaky_apply)
    caplog.set_level(logging.ERROR, logger="projections.runner")
    options = RunnerOptions(batch_size=5, poll_interval=0.02, restart_backoff=0.05)
    async with running_projections(settings, redis, shop.clock, options):
        await wait_until_projected(redis, root, shop)

    assert failures == {"tickets": 1, "payments": 1}
    logged = {record.getMessage() for record in caplog.records}
    assert "tickets projector failed; restarting from its stored position" in logged
    assert "payments projector failed; restarting from its stored position" in logged
    insights = await stored(redis, root, lambda g: g.insights_doc(str(event)))
    assert (insights["orders"]["paid"], insights["tickets"][0]["sold"]) == (6, 6)


async def test_the_follower_subscribes_on_postgres_and_polls_on_sqlite(store, shop):
    sell(shop, 1)
    follower = open_follower(shop.orders, 2)
    try:
        expected = SubscriptionFollower if store == "postgres" else PollingFollower
        assert isinstance(follower, expected)
        batch = await follower.next_batch(100, 2.0)
        assert [n.id for n in batch] == list(range(3, shop.heads()[PAYMENTS_LOG] + 1))
        assert await follower.next_batch(100, 0.05) == []
    finally:
        await asyncio.to_thread(follower.close)
