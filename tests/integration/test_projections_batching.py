"""What one batch costs Redis: each document written once, two round trips, one EXEC.

The projector's commands are recorded as they are written to the socket of the real Redis
(every write is one round trip), and the documents a batch leaves are compared with those
left by applying the same notifications one at a time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from redis.asyncio.connection import AbstractConnection

from projections import projectors
from projections.aggregates import AggregateCache
from projections.follow import open_follower
from projections.keys import ALL_SCOPE, Generation, Keyspace, owner_scope
from projections.projectors import CatalogueProjector, Projector, SalesProjector
from tests.integration.projections_helpers import Clock, Shop, isolated_redis, settings_for

HOLDS = 20


@pytest.fixture
async def redis_root():
    async with isolated_redis() as pair:
        yield pair


@pytest.fixture
def shop(tmp_path, redis_root):
    shop = Shop.open(settings_for("sqlite", tmp_path, redis_root[1], None), Clock())
    yield shop
    shop.close()


class Writes:
    """Every write to a Redis socket while recording: one list of commands per round trip."""

    def __init__(self) -> None:
        self.round_trips: list[list[list[bytes]]] = []

    def commands(self) -> list[list[bytes]]:
        return [command for trip in self.round_trips for command in trip]

    def named(self, name: bytes) -> list[list[bytes]]:
        return [command for command in self.commands() if command[0].upper() == name]

    def writes_to(self, key: str) -> Counter[bytes]:
        """How many commands of each name wrote key (as their first key, or in an MSET)."""
        written: Counter[bytes] = Counter()
        for command in self.commands():
            name = command[0].upper()
            keys = command[1::2] if name == b"MSET" else command[1:2]
            if name not in {b"WATCH", b"MGET", b"GET"} and key.encode() in keys:
                written[name] += 1
        return written


def parse_commands(data: bytes) -> list[list[bytes]]:
    """The RESP arrays of bulk strings in data."""
    commands, at = [], 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        count, at = int(data[at + 1 : end]), end + 2
        command = []
        for _ in range(count):
            end = data.index(b"\r\n", at)
            length, at = int(data[at + 1 : end]), end + 2
            command.append(data[at : at + length])
            at += length + 2
        commands.append(command)
    return commands


@pytest.fixture
def writes(monkeypatch):
    recorded = Writes()
    original = AbstractConnection.send_packed_command

    async def send_packed_command(self, command, check_health=True):
        packed = command if isinstance(command, bytes) else b"".join(command)
        recorded.round_trips.append(parse_commands(packed))
        return await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send_packed_command)
    return recorded


async def a_rush(redis, root, shop: Shop):
    """An event with two ticket types, projected; then HOLDS holds not yet projected."""
    keyspace = Keyspace(root)
    generation = await keyspace.ensure_current(redis)
    event = shop.concert("admin-1")
    ticket = shop.ticket_type(event, "admin-1", price="25.00", stock=1000)
    shop.ticket_type(event, "admin-1", category="Probe", price="10.00", stock=1000)
    shop.hold(ticket, 1)
    catalogue = CatalogueProjector(shop.tickets, redis, keyspace, clock=shop.clock)
    sales = SalesProjector(shop.orders, redis, keyspace, clock=shop.clock)
    heads = shop.heads()
    for projector in (catalogue, sales):
        log = projector.app.notification_log
        await projector.apply(generation, projector.digest(log.select(1, 1000)))
    for _ in range(HOLDS):
        shop.hold(ticket, 1)
    new = {
        projector.log: projector.app.notification_log.select(heads[projector.log] + 1, 1000)
        for projector in (catalogue, sales)
    }
    return generation, str(event), catalogue, sales, new


def documents(g: Generation, event: str) -> list[str]:
    return [g.event_doc(event), g.tickets_doc(event), g.admin_doc(event), g.insights_doc(event)]


async def snapshot(redis, g: Generation, event: str) -> dict[str, object]:
    """The stored documents, summary, state and totals of event (generation prefix left out)."""
    found: dict[str, object] = {}
    for key in documents(g, event):
        found[key.removeprefix(g.prefix)] = await redis.hgetall(key)
    for key in (
        g.summary(event),
        g.orders_state(event),
        g.insights_state(event),
        g.totals_doc(ALL_SCOPE),
        g.totals_doc(owner_scope("admin-1")),
    ):
        found[key.removeprefix(g.prefix)] = await redis.get(key)
    return found


async def test_a_batch_of_holds_writes_each_document_once_in_two_round_trips(
    redis_root, shop, writes
):
    redis, root = redis_root
    generation, event, catalogue, _, new = await a_rush(redis, root, shop)
    holds = new[catalogue.log]
    assert len(holds) == HOLDS

    writes.round_trips.clear()
    assert await catalogue.apply(generation, catalogue.digest(holds))

    assert len(writes.round_trips) == 2  # WATCH + MGET of everything read; MULTI … EXEC
    assert [command[0] for command in writes.round_trips[0]] == [b"WATCH", b"MGET"]
    assert writes.round_trips[1][0] == [b"MULTI"]
    assert writes.round_trips[1][-1] == [b"EXEC"]
    for key in documents(generation, event):
        assert writes.writes_to(key) == {b"HSET": 1}
    assert len(writes.named(b"MSET")) == 1
    assert writes.named(b"SET") == []
    assert len(writes.named(b"PUBLISH")) == 1
    assert writes.named(b"ZREM") == []  # the event stays where it is in the listings
    for key in (generation.summary(event), generation.position(catalogue.log)):
        assert writes.writes_to(key) == {b"MSET": 1}


async def test_a_batch_leaves_the_documents_that_one_notification_at_a_time_leaves(
    redis_root, shop
):
    redis, root = redis_root
    generation, event, catalogue, sales, new = await a_rush(redis, root, shop)
    for projector in (catalogue, sales):
        await projector.apply(generation, projector.digest(new[projector.log]))
    batched = await snapshot(redis, generation, event)

    keyspace = Keyspace(root)
    single = keyspace.new_generation()
    for kind, app in ((CatalogueProjector, shop.tickets), (SalesProjector, shop.orders)):
        projector: Projector = kind(app, redis, keyspace, clock=shop.clock, publish=False)
        for notification in app.notification_log.select(1, 1000):
            await projector.apply(single, projector.digest([notification]), require_current=False)
    assert await snapshot(redis, single, event) == batched


async def test_a_batch_of_orders_rewrites_the_insights_and_not_the_browsing_documents(
    redis_root, shop, writes
):
    redis, root = redis_root
    generation, event, catalogue, sales, new = await a_rush(redis, root, shop)
    await catalogue.apply(generation, catalogue.digest(new[catalogue.log]))
    browsing = await snapshot(redis, generation, event)

    writes.round_trips.clear()
    assert await sales.apply(generation, sales.digest(new[sales.log]))

    assert len(writes.round_trips) == 2
    assert writes.writes_to(generation.insights_doc(event)) == {b"HSET": 1}
    browsing_keys = [*documents(generation, event)[:3], generation.summary(event)]
    for key in browsing_keys:
        assert writes.writes_to(key) == {}
    assert len(writes.named(b"PUBLISH")) == 1
    after = await snapshot(redis, generation, event)
    insights = generation.insights_doc(event).removeprefix(generation.prefix)
    assert after[insights] != browsing[insights]
    for key in browsing_keys:
        assert (
            after[key.removeprefix(generation.prefix)]
            == browsing[key.removeprefix(generation.prefix)]
        )


async def test_a_write_to_a_prefetched_key_before_exec_makes_the_batch_decided_again(
    redis_root, shop, writes, monkeypatch
):
    redis, root = redis_root
    generation, event, catalogue, _, new = await a_rush(redis, root, shop)
    totals = generation.totals_state(ALL_SCOPE)  # read only through the prefetch
    original, attempts = projectors.refresh, []

    async def another_writer_first(values, *args, **kwargs):
        attempts.append(totals in values.raw)
        if len(attempts) == 1:
            await redis.set(totals, await redis.get(totals))  # same value, still a write
        return await original(values, *args, **kwargs)

    monkeypatch.setattr("projections.projectors.refresh", another_writer_first)
    writes.round_trips.clear()
    assert await catalogue.apply(generation, catalogue.digest(new[catalogue.log]))

    assert attempts == [True, True]  # two attempts, each with the key read before refresh
    assert len(writes.named(b"EXEC")) == 2
    remaining = await redis.hget(generation.tickets_doc(event), "json")
    assert b'"remaining":979' in remaining  # 1000 less the 21 holds, counted once


async def test_a_projector_that_knows_nothing_of_an_event_reads_it_in_two_round_trips(
    redis_root, shop, writes
):
    redis, root = redis_root
    generation, event, _, _, new = await a_rush(redis, root, shop)
    fresh = CatalogueProjector(shop.tickets, redis, Keyspace(root), clock=shop.clock)

    writes.round_trips.clear()
    assert await fresh.apply(generation, fresh.digest(new[fresh.log]))
    assert len(writes.round_trips) == 3  # event state; its tickets and totals; EXEC
    writes.round_trips.clear()
    shop.hold(shop.tickets.get_concert(uuid.UUID(event)).ticket_type_ids[0], 1)
    last = fresh.app.notification_log.select(new[fresh.log][-1].id + 1, 10)
    assert await fresh.apply(generation, fresh.digest(last))
    assert len(writes.round_trips) == 2


def test_the_aggregate_cache_tells_which_runs_it_can_advance_without_loading(shop):
    event = shop.concert("admin-1")
    ticket = shop.ticket_type(event, "admin-1")
    shop.hold(ticket, 1)
    notifications = shop.tickets.notification_log.select(1, 100)
    run = [n for n in notifications if n.originator_id == ticket]  # created … reserved
    assert len(run) >= 2
    cache = AggregateCache(shop.tickets)
    assert cache.covers(notifications)  # every aggregate starts at version 1 in the run
    assert not cache.covers(run[1:])  # the rest alone needs the ticket type loaded
    for notification in run[:-1]:
        cache.advance(shop.tickets.mapper.to_domain_event(notification))
    assert cache.covers(run[-1:])
    assert not cache.covers(run[-1:] * 2)  # one version twice: not a run


@pytest.mark.parametrize("store", ["postgres"])
async def test_the_follower_reads_the_commits_of_one_gather_in_one_query_and_wakes_on_commit(
    store, tmp_path, redis_root, request, monkeypatch
):
    monkeypatch.setattr("projections.follow.GATHER_SECONDS", 2.0)
    url = request.getfixturevalue("fresh_database_url")
    shop = Shop.open(settings_for(store, tmp_path, redis_root[1], url), Clock())
    try:
        event = shop.concert("admin-1")
        ticket = shop.ticket_type(event, "admin-1", stock=100)
        head = shop.heads()[CatalogueProjector.log]
        expires_at = shop.clock() + timedelta(minutes=5)

        def hold() -> None:
            shop.tickets.reserve(ticket, uuid.uuid4(), 1, expires_at)

        follower = open_follower(shop.tickets, head)
        try:
            assert await follower.next_batch(500, 0.3) == []  # nothing after head yet
            selects = follower.selects

            def five_holds() -> None:  # five commits, well inside one gather
                for _ in range(5):
                    hold()

            await asyncio.to_thread(five_holds)
            batch = await follower.next_batch(500, 10.0)
            assert [n.id for n in batch] == list(range(head + 1, head + 6))
            assert follower.selects == selects + 1

            started = time.monotonic()
            later = asyncio.create_task(follower.next_batch(500, 30.0))
            await asyncio.sleep(0.05)
            await asyncio.to_thread(hold)
            assert [n.id for n in await later] == [head + 6]
            assert time.monotonic() - started < 10  # woken by the commit, not by the timeout
        finally:
            await asyncio.to_thread(follower.close)
    finally:
        shop.close()
