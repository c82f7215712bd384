"""Browsing reads the Redis read models, which follow each command within a second."""

from __future__ import annotations

import time
import uuid

from tests.e2e.test_http_journeys import an_admin, an_event_on_sale, assert_problem, order_body

WITHIN_SECONDS = 1.0


def within_a_second(read, check):
    """The first answer of read() that passes check, polled for a second after the command."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        answer = read()
        if check(answer):
            return answer
        assert time.monotonic() < deadline, f"read model not updated within a second: {answer.text}"
        time.sleep(0.05)


def test_a_customer_browses_an_event_whose_availability_follows_each_order(system):
    admin = an_admin(system)
    event, ticket = an_event_on_sale(system, admin, stock=10)
    with system.client() as http:
        listed = within_a_second(
            lambda: http.get("/events", params={"q": "sauti", "limit": 100}),
            lambda a: event["id"] in {item["id"] for item in a.json()["items"]},
        )
        item = next(i for i in listed.json()["items"] if i["id"] == event["id"])
        assert (item["min_price"], item["currency"], item["available"]) == ("25.00", "KES", True)
        page = within_a_second(
            lambda: http.get(f"/events/{event['id']}"), lambda a: a.status_code == 200
        )
        body = page.json()
        assert set(body) >= {
            "id",
            "title",
            "description",
            "location",
            "date_time",
            "status",
            "tickets",
        }
        assert body["tickets"][0]["remaining"] == 10
        assert body["tickets"][0]["on_sale"] is True
        assert (
            http.get(
                f"/events/{event['id']}", headers={"If-None-Match": page.headers["etag"]}
            ).status_code
            == 304
        )

        placed = http.post("/orders", json=order_body(event, ticket, 3),
                           headers={"Idempotency-Key": f"key-{uuid.uuid4()}"})  # fmt: skip
        assert placed.status_code == 201
        tickets = within_a_second(
            lambda: http.get(f"/events/{event['id']}/tickets"),
            lambda a: a.json()["items"][0]["remaining"] == 7,
        )
        assert tickets.headers["cache-control"]

    with system.client(headers=admin) as http:
        insights = within_a_second(
            lambda: http.get(f"/admin/events/{event['id']}/insights"),
            lambda a: a.status_code == 200 and a.json()["tickets"][0]["held"] == 3,
        )
        assert insights.json()["orders"]["pending"] == 1


def test_an_inactive_event_is_not_public_and_another_admin_cannot_read_it(system):
    owner, other = an_admin(system), an_admin(system)
    event, _ = an_event_on_sale(system, owner, activate=False)
    with system.client(headers=owner) as http:
        within_a_second(
            lambda: http.get(f"/admin/events/{event['id']}"), lambda a: a.status_code == 200
        )
    with system.client() as http:
        assert_problem(http.get(f"/events/{event['id']}"), 404)
    with system.client(headers=other) as http:
        assert_problem(http.get(f"/admin/events/{event['id']}"), 404)
