"""The projection runner keeps Redis read models equal to what the aggregates say."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import orjson
import pytest

from domain.concert import ConcertStatus
from domain.order import OrderStatus
from projections.keys import ALL_SCOPE, Keyspace, event_id_of, owner_scope
from tests.integration.projections_helpers import (
    Clock,
    Shop,
    current,
    isolated_redis,
    running_projections,
    settings_for,
    stored,
    wait_until,
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
def clock():
    return Clock()


@pytest.fixture
def shop(settings, clock):
    shop = Shop.open(settings, clock)
    yield shop
    shop.close()


def expected_ticket(shop: Shop, ticket_id) -> dict:
    t = shop.tickets.get_ticket_type(ticket_id)
    return {
        "id": str(t.id),
        "event_id": str(t.event_id),
        "category": t.category,
        "price": str(t.price),
        "currency": t.price.currency,
        "total_stock": t.total_stock,
        "remaining": t.remaining,
        "sales_start": t.sales_start.isoformat(),
        "sales_end": t.sales_end.isoformat(),
        "on_sale": t.is_on_sale(shop.clock()),
    }


def expected_event(shop: Shop, concert_id) -> dict:
    c = shop.tickets.get_concert(concert_id)
    return {
        "id": str(c.id),
        "title": c.title,
        "description": c.description,
        "location": c.location,
        "date_time": c.date_time.isoformat(),
        "status": c.status.value,
        "tickets": [expected_ticket(shop, t) for t in c.ticket_type_ids],
    }


def minute_of(order) -> str:
    return order.paid_at.astimezone(UTC).replace(second=0, microsecond=0).isoformat()


def expected_insights(shop: Shop, concert_id, orders) -> dict:
    """Insights computed straight from the aggregates."""
    ticket_types = shop.tickets.ticket_types_of(shop.tickets.get_concert(concert_id))
    current_orders = [shop.orders.get_order(order.id) for order in orders]
    paid = [o for o in current_orders if o.status is OrderStatus.PAID]

    def count(*statuses):
        return sum(1 for o in current_orders if o.status in statuses)

    def cents(orders_):
        total = sum(o.total_amount.minor for o in orders_)
        return f"{total // 100}.{total % 100:02d}"

    return {
        "event_id": str(concert_id),
        "tickets": [
            {
                "ticket_id": str(t.id),
                "category": t.category,
                "total_stock": t.total_stock,
                "sold": t.sold,
                "held": t.held,
                "remaining": t.remaining,
                "revenue": cents([o for o in paid if o.ticket_id == t.id]),
            }
            for t in ticket_types
        ],
        "orders": {
            "paid": count(OrderStatus.PAID),
            "pending": count(OrderStatus.PENDING, OrderStatus.PLACED),
            "failed": count(OrderStatus.FAILED),
            "expired": count(OrderStatus.EXPIRED),
        },
        "revenue": cents(paid),
        "currency": ticket_types[0].price.currency,
        "sales_per_minute": [
            {
                "minute": minute,
                "tickets": sum(o.quantity for o in paid if minute_of(o) == minute),
                "revenue": cents([o for o in paid if minute_of(o) == minute]),
            }
            for minute in sorted({minute_of(o) for o in paid})
        ],
        "revenue_by_currency": {ticket_types[0].price.currency: cents(paid)},
    }


async def test_documents_listings_admin_models_and_insights_equal_the_domain_state(
    settings, redis_root, shop
):
    redis, root = redis_root
    main = shop.concert("admin-1")
    vip = shop.ticket_type(main, "admin-1", "VIP", "45.50", stock=10)
    regular = shop.ticket_type(main, "admin-1", "Regular", "10.00", stock=100)
    hidden = shop.concert("admin-1", "Rehearsal", days=10, status=ConcertStatus.INACTIVE)
    called_off = shop.concert("admin-2", "Bien", "Mombasa", days=20, status=ConcertStatus.CANCELLED)

    async with running_projections(settings, redis, shop.clock):
        paid = shop.pay(shop.hold(vip, 2))
        declined = shop.decline(shop.hold(vip, 1))
        pending = shop.hold(vip, 1)
        bulk = shop.pay(shop.hold(regular, 4))
        refused = shop.hold(vip, 9)  # more than remain: rejected
        lapsed = shop.expire(shop.hold(regular, 3))
        orders = [paid, declined, pending, bulk, refused, lapsed]
        await wait_until_projected(redis, root, shop)

    assert refused.status is OrderStatus.REJECTED
    assert await stored(redis, root, lambda g: g.event_doc(str(main))) == expected_event(shop, main)
    tickets_doc = await stored(redis, root, lambda g: g.tickets_doc(str(main)))
    assert tickets_doc == {"items": expected_event(shop, main)["tickets"]}
    assert await stored(redis, root, lambda g: g.event_doc(str(hidden))) is None
    cancelled = await stored(redis, root, lambda g: g.event_doc(str(called_off)))
    assert cancelled["status"] == "cancelled"

    insights = await stored(redis, root, lambda g: g.insights_doc(str(main)))
    assert insights == expected_insights(shop, main, orders)
    assert insights["orders"] == {"paid": 2, "pending": 1, "failed": 1, "expired": 1}
    assert insights["revenue"] == "131.00"

    admin_view = await stored(redis, root, lambda g: g.admin_doc(str(main)))
    vip_type = shop.tickets.get_ticket_type(vip)
    assert (admin_view["tickets"][0]["sold"], admin_view["tickets"][0]["held"]) == (
        vip_type.sold,
        vip_type.held,
    )
    assert admin_view["created_by"] == "admin-1"

    g = await current(redis, root)
    listed = {
        status: [event_id_of(m) for m in await redis.zrange(g.listing(status), 0, -1)]
        for status in ("active", "inactive", "cancelled")
    }
    assert listed == {
        "active": [str(main)],
        "inactive": [str(hidden)],
        "cancelled": [str(called_off)],
    }
    mine = [event_id_of(m) for m in await redis.zrange(g.owned(owner_scope("admin-1")), 0, -1)]
    assert mine == [str(hidden), str(main)]  # by date_time
    assert len(await redis.zrange(g.owned(ALL_SCOPE), 0, -1)) == 3
    summary = orjson.loads(await redis.get(g.summary(str(main))))
    assert summary == {
        "id": str(main),
        "title": "Sauti Sol",
        "location": "Nairobi",
        "date_time": expected_event(shop, main)["date_time"],
        "status": "active",
        "min_price": "10.00",
        "currency": "KES",
        "available": True,
    }

    totals = orjson.loads(await redis.get(g.totals_doc(owner_scope("admin-1"))))
    assert totals == {
        "tickets_sold": 6,
        "revenue": "131.00",
        "currency": "KES",
        "orders_paid": 2,
        "orders_pending": 1,
        "orders_failed": 1,
        "orders_expired": 1,
        "revenue_by_currency": {"KES": "131.00"},
    }


async def test_editing_and_deleting_events_moves_them_in_and_out_of_the_read_models(
    settings, redis_root, shop
):
    redis, root = redis_root
    event = shop.concert("admin-1", status=ConcertStatus.INACTIVE)
    shop.ticket_type(event, "admin-1")
    async with running_projections(settings, redis, shop.clock):
        await wait_until_projected(redis, root, shop)
        assert await stored(redis, root, lambda g: g.event_doc(str(event))) is None
        shop.tickets.change_concert_status(event, ConcertStatus.ACTIVE, "admin-1")
        shop.tickets.update_concert(event, "admin-1", title="Sauti Sol Live")
        await wait_until_projected(redis, root, shop)
        document = await stored(redis, root, lambda g: g.event_doc(str(event)))
        assert (document["title"], document["tickets"][0]["on_sale"]) == ("Sauti Sol Live", True)

        shop.tickets.change_concert_status(event, ConcertStatus.INACTIVE, "admin-1")
        shop.tickets.delete_concert(event, "admin-1")
        await wait_until_projected(redis, root, shop)

    g = await current(redis, root)
    for key in (g.event_doc, g.tickets_doc, g.admin_doc, g.insights_doc, g.summary):
        assert not await redis.exists(key(str(event)))
    assert await redis.zcard(g.owned(ALL_SCOPE)) == 0
    assert orjson.loads(await redis.get(g.totals_doc(ALL_SCOPE)))["currency"] is None


async def test_a_sale_is_announced_on_the_insights_channel(settings, redis_root, shop):
    redis, root = redis_root
    event = shop.concert("admin-1")
    ticket = shop.ticket_type(event, "admin-1")
    order = shop.hold(ticket, 2)
    pubsub = redis.pubsub()
    await pubsub.subscribe(Keyspace(root).insights_channel)
    async with running_projections(settings, redis, shop.clock):
        await wait_until_projected(redis, root, shop)
        await asyncio.to_thread(shop.pay, order)

        async def sale_announced():
            # The payment (payments log) and the confirmation (tickets log) are announced
            # apart; wait for an announcement after which the insights show both.
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is None:
                return None
            insights = await stored(redis, root, lambda g: g.insights_doc(str(event)))
            sold = insights["orders"]["paid"] and insights["tickets"][0]["sold"]
            return (orjson.loads(message["data"]), insights) if sold else None

        announcement, insights = await wait_until(sale_announced, what="a sale's announcement")
    await pubsub.aclose()
    assert announcement == {"event_id": str(event), "admin_id": "admin-1"}
    assert insights["tickets"][0]["sold"] == 2


async def test_documents_are_rerendered_when_a_sales_window_opens_and_closes(
    settings, redis_root, shop
):
    redis, root = redis_root
    event = shop.concert("admin-1")
    shop.ticket_type(event, "admin-1", opens=timedelta(hours=1), closes=timedelta(hours=2))

    async def on_sale():
        document = await stored(redis, root, lambda g: g.event_doc(str(event)))
        summary = await stored(redis, root, lambda g: g.summary(str(event)))
        return document["tickets"][0]["on_sale"], summary["available"]

    async with running_projections(settings, redis, shop.clock):
        await wait_until_projected(redis, root, shop)
        assert await on_sale() == (False, False)
        shop.clock.now += timedelta(hours=1)
        await wait_until(lambda: _equals(on_sale, (True, True)), 5, "the window to open")
        shop.clock.now += timedelta(hours=1)
        await wait_until(lambda: _equals(on_sale, (False, False)), 5, "the window to close")

    g = await current(redis, root)
    assert await redis.zscore(g.windows, str(event)) is None  # no boundary left ahead


async def _equals(read, expected) -> bool:
    return await read() == expected
