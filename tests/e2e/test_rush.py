"""A ticket rush through HTTP: many buyers, few tickets, never oversold."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.e2e.test_http_journeys import an_admin, an_event_on_sale, order_body
from tests.e2e.test_read_models import within_a_second

BUYERS = 300
STOCK = 40


async def test_three_hundred_buyers_for_forty_tickets_get_exactly_forty_orders(system):
    event, ticket = an_event_on_sale(system, an_admin(system), stock=STOCK)
    limits = httpx.Limits(max_connections=BUYERS, max_keepalive_connections=BUYERS)
    async with httpx.AsyncClient(base_url=system.base_url, timeout=120, limits=limits) as http:

        async def buy(buyer: int) -> httpx.Response:
            return await http.post(
                "/orders",
                json=order_body(event, ticket, 1, email=f"fan{buyer}@example.com"),
                headers={"Idempotency-Key": f"rush-{uuid.uuid4()}"},
            )

        answers = await asyncio.gather(*(buy(buyer) for buyer in range(BUYERS)))
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(201) == STOCK
        assert statuses.count(409) == BUYERS - STOCK
        assert set(statuses) == {201, 409}
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {"sold_out"}
        assert len({a.json()["id"] for a in answers if a.status_code == 201}) == STOCK

    with system.client() as sync_http:
        sold_out = within_a_second(
            lambda: sync_http.get(f"/events/{event['id']}/tickets"),
            lambda a: a.status_code == 200 and a.json()["items"][0]["remaining"] == 0,
        )
        assert sold_out.json()["items"][0]["on_sale"] is False
