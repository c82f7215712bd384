"""The read API serves the stored documents as API.md describes them."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from domain.concert import ConcertStatus
from projections.keys import Keyspace
from projections.projectors import CatalogueProjector, SalesProjector
from projections.rebuild import catch_up, delete_generation, switch
from query_api.hot import DOCUMENT_SECONDS, HotReads
from query_api.main import create_query_app
from query_api.public import public_router
from query_api.schemas import (
    EventAdmin,
    EventAdminPage,
    EventInsights,
    EventPage,
    EventPublic,
    InsightsOverview,
    TicketList,
)
from services.common.http_problems import install_problem_handlers
from tests.integration.projections_helpers import (
    NOW,
    Clock,
    FakeTokenKeys,
    Shop,
    bearer,
    current,
    isolated_redis,
    settings_for,
)


@pytest.fixture
async def world(tmp_path):
    """Two admins' events in every status, projected into a fresh key root; a client to read."""
    async with isolated_redis() as (redis, root):
        settings = settings_for("sqlite", tmp_path, root, None)
        shop = Shop.open(settings, Clock())
        ids = {
            "sauti": shop.concert("admin-1", "Sauti Sol", "Nairobi", days=30),
            "rehearsal": shop.concert(
                "admin-1", "Rehearsal", "Nairobi", days=5, status=ConcertStatus.INACTIVE
            ),
            "farewell": shop.concert(
                "admin-1", "Farewell", "Kisumu", days=40, status=ConcertStatus.CANCELLED
            ),
            "bien": shop.concert("admin-2", "Bien", "Mombasa", days=20),
            "nyashinski": shop.concert("admin-2", "Nyashinski", "Eldoret", days=50),
            "secret": shop.concert(
                "admin-2", "Secret gig", "Nakuru", days=15, status=ConcertStatus.INACTIVE
            ),
        }
        vip = shop.ticket_type(ids["sauti"], "admin-1", "VIP", "45.50", stock=10)
        shop.ticket_type(ids["sauti"], "admin-1", "Regular", "10.00", stock=100)
        shop.ticket_type(ids["bien"], "admin-2", "Early", "12.00", currency="USD")
        shop.ticket_type(ids["nyashinski"], "admin-2", "Floor", "30.00", currency="USD")
        shop.pay(shop.hold(vip, 2))
        shop.hold(vip, 1)
        keyspace = Keyspace(root)
        generation = await keyspace.ensure_current(redis)
        await catch_up(
            CatalogueProjector(shop.tickets, redis, keyspace, clock=shop.clock), generation
        )
        await catch_up(SalesProjector(shop.orders, redis, keyspace, clock=shop.clock), generation)
        app = create_query_app(settings, redis, FakeTokenKeys())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, {name: str(event_id) for name, event_id in ids.items()}, redis, root
        shop.close()


def ids_of(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


async def test_an_event_is_served_as_its_stored_bytes_with_an_etag_and_public_caching(world):
    client, ids, redis, root = world
    response = await client.get(f"/events/{ids['sauti']}")
    g = await current(redis, root)
    assert response.status_code == 200
    assert response.content == await redis.hget(g.event_doc(ids["sauti"]), "json")
    assert (
        response.headers["etag"] == (await redis.hget(g.event_doc(ids["sauti"]), "etag")).decode()
    )
    assert response.headers["cache-control"] == "public, max-age=1"
    assert response.headers["content-type"] == "application/json"
    event = EventPublic.model_validate_json(response.content)
    assert [(t.category, t.price, t.remaining, t.on_sale) for t in event.tickets] == [
        ("VIP", "45.50", 7, True),
        ("Regular", "10.00", 100, True),
    ]
    assert event.date_time == (NOW + timedelta(days=30)).isoformat()


async def test_a_matching_if_none_match_answers_304_without_a_body(world):
    client, ids, _, _ = world
    first = await client.get(f"/events/{ids['sauti']}/tickets")
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(
            f"/events/{ids['sauti']}/tickets", headers={"If-None-Match": header}
        )
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    changed = await client.get(f"/events/{ids['sauti']}/tickets", headers={"If-None-Match": '"x"'})
    assert changed.status_code == 200


async def test_inactive_and_unknown_events_are_404_problems(world):
    client, ids, _, _ = world
    for path in (
        f"/events/{ids['rehearsal']}",
        f"/events/{ids['rehearsal']}/tickets",
        "/events/00000000-0000-4000-8000-000000000000",
    ):
        assert_problem(await client.get(path), 404)


async def test_the_tickets_of_an_event_come_as_items_equal_to_the_events_tickets(world):
    client, ids, _, _ = world
    tickets = TicketList.model_validate_json(
        (await client.get(f"/events/{ids['sauti']}/tickets")).content
    )
    event = EventPublic.model_validate_json((await client.get(f"/events/{ids['sauti']}")).content)
    assert tickets.items == event.tickets


async def test_a_cancelled_event_can_be_read_but_the_listing_shows_active_events_by_date(world):
    client, ids, _, _ = world
    cancelled = await client.get(f"/events/{ids['farewell']}")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    listing = await client.get("/events")
    page = EventPage.model_validate_json(listing.content)
    assert ids_of(listing) == [ids["bien"], ids["sauti"], ids["nyashinski"]]
    assert page.next_cursor is None
    sauti = page.items[1]
    assert (sauti.min_price, sauti.currency, sauti.available) == ("10.00", "KES", True)
    assert listing.headers["cache-control"] == "public, max-age=1"
    assert "etag" in listing.headers


async def test_the_listing_pages_with_an_opaque_cursor_until_it_is_null(world):
    client, ids, _, _ = world
    seen, cursor = [], None
    for _ in range(4):
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/events", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids["bien"], ids["sauti"], ids["nyashinski"]]
    assert cursor is None


async def test_the_listing_searches_title_and_location_case_insensitively(world):
    client, ids, _, _ = world
    assert ids_of(await client.get("/events", params={"q": "NAIROBI"})) == [ids["sauti"]]
    assert ids_of(await client.get("/events", params={"q": "bien"})) == [ids["bien"]]
    assert ids_of(await client.get("/events", params={"q": "nowhere"})) == []
    first = (await client.get("/events", params={"q": "i", "limit": 2})).json()
    rest = (await client.get("/events", params={"q": "i", "cursor": first["next_cursor"]})).json()
    found = [item["id"] for item in first["items"] + rest["items"]]
    assert found == [ids["bien"], ids["sauti"], ids["nyashinski"]]


async def test_the_listing_filters_by_a_date_range(world):
    client, ids, _, _ = world
    day_30 = (NOW + timedelta(days=30)).date().isoformat()
    after = (NOW + timedelta(days=25)).isoformat()
    assert ids_of(await client.get("/events", params={"from": after})) == [
        ids["sauti"],
        ids["nyashinski"],
    ]
    assert ids_of(await client.get("/events", params={"to": day_30})) == [ids["bien"], ids["sauti"]]
    assert ids_of(await client.get("/events", params={"from": day_30, "to": day_30})) == [
        ids["sauti"]
    ]
    unencoded_plus = await client.get(f"/events?from={after}")  # "+00:00" arrives as " 00:00"
    assert ids_of(unencoded_plus) == [ids["sauti"], ids["nyashinski"]]


async def test_only_admins_list_other_statuses_and_an_admin_sees_only_their_own(world):
    client, ids, _, _ = world
    assert_problem(await client.get("/events", params={"status": "inactive"}), 403)
    auditor = await client.get("/events", params={"status": "inactive"}, headers=bearer("auditor"))
    assert_problem(auditor, 403)
    assert_problem(await client.get("/events", headers=bearer("forged")), 401)
    own = await client.get("/events", params={"status": "inactive"}, headers=bearer("admin-1"))
    assert ids_of(own) == [ids["rehearsal"]]
    assert own.headers["cache-control"] == "private, no-cache"
    everyone = await client.get("/events", params={"status": "inactive"}, headers=bearer("root"))
    assert ids_of(everyone) == [ids["rehearsal"], ids["secret"]]
    cancelled = await client.get(
        "/events", params={"status": "cancelled"}, headers=bearer("admin-2")
    )
    assert ids_of(cancelled) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "query.limit"),
        ("limit=101", "query.limit"),
        ("limit=many", "query.limit"),
        ("from=2027-03-01T00:00:00", "query.from"),
        ("to=next-week", "query.to"),
        ("cursor=not-a-cursor", "query.cursor"),
        ("status=deleted", "query.status"),
    ],
)
async def test_bad_query_parameters_are_422_problems_naming_the_field(world, query, field):
    client, _, _, _ = world
    body = assert_problem(await client.get(f"/events?{query}"), 422)
    assert field in [error["field"] for error in body["errors"]]


async def test_an_admin_lists_their_own_events_in_any_status_and_a_superadmin_all(world):
    client, ids, _, _ = world
    own = await client.get("/admin/events", headers=bearer("admin-1"))
    page = EventAdminPage.model_validate_json(own.content)
    assert ids_of(own) == [ids["rehearsal"], ids["sauti"], ids["farewell"]]
    assert [event.status for event in page.items] == ["inactive", "active", "cancelled"]
    assert own.headers["cache-control"] == "private, no-cache"
    first = (await client.get("/admin/events", params={"limit": 4}, headers=bearer("root"))).json()
    rest = await client.get(
        "/admin/events", params={"cursor": first["next_cursor"]}, headers=bearer("root")
    )
    assert len(first["items"]) == 4
    assert len(rest.json()["items"]) == 2
    assert rest.json()["next_cursor"] is None


async def test_another_admins_event_is_404_for_an_admin_but_not_for_superadmins(world):
    client, ids, _, _ = world
    sauti = f"/admin/events/{ids['sauti']}"
    assert_problem(await client.get(sauti, headers=bearer("admin-2")), 404)
    assert_problem(await client.get(f"{sauti}/insights", headers=bearer("admin-2")), 404)
    mine = await client.get(sauti, headers=bearer("admin-1"))
    event = EventAdmin.model_validate_json(mine.content)
    assert [(t.sold, t.held) for t in event.tickets] == [(2, 1), (0, 0)]
    assert (await client.get(sauti, headers=bearer("root"))).status_code == 200
    assert (await client.get(f"{sauti}/insights", headers=bearer("auditor"))).status_code == 200


async def test_admin_reads_need_a_token_with_the_right_role(world):
    client, ids, _, _ = world
    assert_problem(await client.get("/admin/events"), 401)
    assert_problem(await client.get("/admin/insights", headers=bearer("forged")), 401)
    assert_problem(await client.get("/admin/events", headers=bearer("auditor")), 403)
    assert_problem(
        await client.get(f"/admin/events/{ids['sauti']}", headers=bearer("auditor")), 403
    )


async def test_insights_have_the_documented_shape_and_totals_follow_the_currency_rule(world):
    client, ids, _, _ = world
    event = await client.get(f"/admin/events/{ids['sauti']}/insights", headers=bearer("admin-1"))
    insights = EventInsights.model_validate_json(event.content)
    assert (insights.orders.paid, insights.orders.pending, insights.revenue) == (1, 1, "91.00")
    assert [(m.minute, m.tickets, m.revenue) for m in insights.sales_per_minute] == [
        (NOW.isoformat(), 2, "91.00")
    ]
    own = InsightsOverview.model_validate_json(
        (await client.get("/admin/insights", headers=bearer("admin-1"))).content
    )
    assert [e.event_id for e in own.events] == [ids["rehearsal"], ids["sauti"], ids["farewell"]]
    assert (own.totals.tickets_sold, own.totals.revenue, own.totals.currency) == (2, "91.00", "KES")
    everyone = InsightsOverview.model_validate_json(
        (await client.get("/admin/insights", headers=bearer("auditor"))).content
    )
    assert len(everyone.events) == 6
    # Two events are priced in USD, one in KES: totals speak USD and list KES beside it.
    assert (everyone.totals.currency, everyone.totals.revenue) == ("USD", "0.00")
    assert everyone.totals.revenue_by_currency == {"KES": "91.00"}


async def test_admin_reads_are_private_and_revalidate_with_their_etag(world):
    client, _, _, _ = world
    first = await client.get("/admin/insights", headers=bearer("admin-1"))
    assert first.headers["cache-control"] == "private, no-cache"
    again = await client.get(
        "/admin/insights", headers=bearer("admin-1") | {"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304


async def test_the_openapi_document_describes_every_read_endpoint_and_its_shapes(world):
    client, _, _, _ = world
    document = (await client.get("/openapi.json")).json()
    assert {
        "/events",
        "/events/{event_id}",
        "/events/{event_id}/tickets",
        "/admin/events",
        "/admin/events/{event_id}",
        "/admin/insights",
        "/admin/events/{event_id}/insights",
        "/admin/insights/stream",
    } <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert {"EventPublic", "EventPage", "TicketList", "EventInsights", "InsightsOverview"} <= set(
        schemas
    )


async def test_the_hot_path_answers_exactly_as_the_routes_and_steps_aside_when_it_cannot(world):
    """GET /events/{id}(/tickets) skip the framework; the answers must not change."""
    client, ids, redis, root = world
    routes_only = FastAPI()
    install_problem_handlers(routes_only)
    routes_only.include_router(public_router(redis, namespace=root))
    transport = httpx.ASGITransport(app=routes_only)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as plain:
        etag = (await plain.get(f"/events/{ids['sauti']}")).headers["etag"]
        for method, path, headers in [
            ("GET", f"/events/{ids['sauti']}", {}),
            ("GET", f"/events/{ids['sauti'].upper()}/tickets", {}),
            ("HEAD", f"/events/{ids['sauti']}", {}),
            ("GET", f"/events/{ids['sauti']}", {"If-None-Match": etag}),
            ("GET", f"/events/{ids['secret']}", {}),
            ("GET", f"/events/{ids['sauti'][:-1]}x", {}),
        ]:
            hot = await client.request(method, path, headers=headers)
            slow = await plain.request(method, path, headers=headers)
            assert (hot.status_code, hot.content) == (slow.status_code, slow.content), path
            for name in ("etag", "cache-control", "content-type"):
                assert hot.headers.get(name) == slow.headers.get(name), (path, name)
    # A rebuild switched generations and deleted the old one at once: nothing stale is served.
    g = await current(redis, root)
    old_body = await redis.hget(g.event_doc(ids["sauti"]), "json")
    fresh = Keyspace(root).new_generation()
    async for key in redis.scan_iter(match=f"{g.prefix}:*"):
        await redis.copy(key, fresh.prefix + key.decode()[len(g.prefix) :])
    await redis.hset(
        fresh.event_doc(ids["sauti"]), "json", old_body.replace(b"Nairobi", b"Naivasha")
    )
    await switch(redis, Keyspace(root), fresh)
    await delete_generation(redis, g)
    # What was read before the switch is served from memory for DOCUMENT_SECONDS at most.
    await asyncio.sleep(DOCUMENT_SECONDS)
    answer = await client.get(f"/events/{ids['sauti']}")
    assert answer.status_code == 200
    assert b"Naivasha" in answer.content


class CountedReads:
    """The real Redis client, counting the hot path's document reads (and slowing them)."""

    def __init__(self, redis: Redis, delay: float = 0.0) -> None:
        self.redis, self.delay, self.reads = redis, delay, 0

    async def get(self, key: str) -> bytes | None:
        return await self.redis.get(key)

    async def execute_command(self, *args: object) -> object:
        self.reads += 1
        await asyncio.sleep(self.delay)
        return await self.redis.execute_command(*args)


def hot_client(redis: CountedReads, root: str) -> httpx.AsyncClient:
    routes = FastAPI()
    install_problem_handlers(routes)
    routes.include_router(public_router(redis.redis, namespace=root))
    hot = HotReads(routes, redis, root)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=hot), base_url="http://test")


async def test_the_hot_path_reads_a_document_once_for_all_readers_and_shows_a_change_in_100_ms(
    world,
):
    _, ids, redis, root = world
    counted = CountedReads(redis, delay=0.02)
    path = f"/events/{ids['sauti']}"
    g = await current(redis, root)
    stored = await redis.hget(g.event_doc(ids["sauti"]), "json")
    async with hot_client(counted, root) as client:
        answers = await asyncio.gather(*(client.get(path) for _ in range(50)))
        assert {(a.status_code, a.content) for a in answers} == {(200, stored)}
        assert counted.reads == 1  # the 49 others waited for the first one's read
        changed = stored.replace(b"Nairobi", b"Naivasha")
        await redis.hset(g.event_doc(ids["sauti"]), mapping={"json": changed, "etag": '"v2"'})
        started = time.monotonic()
        while (answer := await client.get(path)).content != changed:
            assert answer.content == stored
            assert time.monotonic() - started < DOCUMENT_SECONDS + 0.1
            await asyncio.sleep(0.01)
        assert answer.headers["etag"] == '"v2"'
        assert counted.reads == 2


async def test_a_reader_that_gives_up_does_not_fail_the_others_and_unknown_ids_are_not_remembered(
    world,
):
    _, ids, redis, root = world
    counted = CountedReads(redis, delay=0.05)
    path = f"/events/{ids['sauti']}"
    async with hot_client(counted, root) as client:
        first = asyncio.create_task(client.get(path))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(client.get(path))
        await asyncio.sleep(0.01)
        first.cancel()  # its client went away while the read was under way
        assert (await second).status_code == 200
        assert counted.reads == 1
        g = await current(redis, root)
        unknown = "00000000-0000-4000-8000-0000000000aa"
        assert_problem(await client.get(f"/events/{unknown}"), 404)
        document = await redis.hgetall(g.event_doc(ids["sauti"]))
        await redis.hset(g.event_doc(unknown), mapping=document)
        assert (await client.get(f"/events/{unknown}")).status_code == 200  # at once


async def test_an_anonymous_listing_is_answered_from_memory_for_100_ms_and_nothing_else_is(world):
    _, ids, redis, root = world
    routes = FastAPI()
    install_problem_handlers(routes)
    routes.include_router(public_router(redis, namespace=root))
    routes.state.token_keys = FakeTokenKeys()
    calls: list[str] = []

    async def app(scope, receive, send):
        calls.append(f"{scope['path']}?{scope['query_string'].decode()}")
        await routes(scope, receive, send)

    hot = HotReads(app, redis, root)
    transport = httpx.ASGITransport(app=hot)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.get("/events?limit=2")
        again = await client.get("/events?limit=2")
        assert first.status_code == again.status_code == 200
        assert (again.content, dict(again.headers)) == (first.content, dict(first.headers))
        assert calls == ["/events?limit=2"]
        etag = first.headers["etag"]
        revalidated = await client.get("/events?limit=2", headers={"If-None-Match": etag})
        assert (revalidated.status_code, revalidated.content) == (304, b"")
        assert revalidated.headers["etag"] == etag
        assert len(calls) == 1
        # Another query string, a refusal, a request with a token: the app each time.
        assert (await client.get("/events?limit=3")).status_code == 200
        for _ in range(2):
            assert_problem(await client.get("/events?limit=0"), 422)
            assert_problem(await client.get("/events?status=inactive"), 403)
            listed = await client.get("/events?limit=2", headers=bearer("admin-1"))
            assert listed.status_code == 200
        assert len(calls) == 8
        await asyncio.sleep(DOCUMENT_SECONDS)
        fresh = await client.get("/events?limit=2")
        assert fresh.content == first.content
        assert len(calls) == 9
    assert ids_of(first) == [ids["bien"], ids["sauti"]]
