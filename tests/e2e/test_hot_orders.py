"""POST /orders answered before the framework (command_api/hot_orders.py) and by the route alike."""

from __future__ import annotations

import uuid

from tests.e2e.test_http_journeys import an_admin, an_event_on_sale, assert_problem, order_body


def post_order(http, body, key=None, **headers):
    return http.post(
        "/orders", json=body, headers={"Idempotency-Key": key or f"key-{uuid.uuid4()}", **headers}
    )


def test_the_fast_path_and_the_route_give_the_same_order(system):
    event, ticket = an_event_on_sale(system, an_admin(system), stock=10)
    plain = order_body(event, ticket, 2, email="plain@example.com")
    # UUIDs without hyphens are valid, but the fast path leaves them to the route.
    unusual = order_body(event, ticket, 2, email="unusual@example.com") | {
        "event_id": uuid.UUID(event["id"]).hex, "ticket_id": uuid.UUID(ticket["id"]).hex,
    }  # fmt: skip
    with system.client() as http:
        fast = post_order(http, plain, key="fast-key-1", **{"X-Request-ID": "hot-order-test-1"})
        routed = post_order(http, unusual)
        assert fast.status_code == routed.status_code == 201, (fast.text, routed.text)
        assert fast.headers["content-type"] == routed.headers["content-type"]
        assert fast.headers["x-request-id"] == "hot-order-test-1"
        one, other = fast.json(), routed.json()
        assert one.keys() == other.keys()
        assert one["payment"].keys() == other["payment"].keys()
        for name in ("event_id", "ticket_id", "quantity", "total_amount", "currency", "status"):
            assert one[name] == other[name], name
        assert one["event_id"] == event["id"]
        assert one["status"] == "pending"
        assert one["payment"]["checkout_url"].startswith("http")
        assert one["payment"]["expires_at"].endswith("Z") == other["payment"][
            "expires_at"
        ].endswith("Z")

        # What the fast path answered is what the order says when read back.
        read = http.get(f"/orders/{one['id']}", headers={"X-Order-Token": one["order_token"]})
        assert read.status_code == 200
        assert read.json() == one

        # A repeat finds the same order (200), a different body under the key is refused.
        again = post_order(http, plain, key="fast-key-1")
        assert again.status_code == 200
        assert again.json() == one
        other_body = post_order(http, plain | {"quantity": 3}, key="fast-key-1")
        assert_problem(other_body, 422, "idempotency_key_reused")


def test_refusals_through_the_fast_path_are_the_usual_problems(system):
    admin = an_admin(system)
    event, ticket = an_event_on_sale(system, admin, stock=1)
    closed, closed_ticket = an_event_on_sale(system, admin, activate=False)
    with system.client() as http:
        assert_problem(post_order(http, order_body(event, ticket, 2)), 409, "sold_out")
        assert_problem(post_order(http, order_body(closed, closed_ticket, 1)), 409, "not_on_sale")
        unknown = order_body(event, ticket, 1) | {"ticket_id": str(uuid.uuid4())}
        assert_problem(post_order(http, unknown), 404)
        # Invalid input never reaches a service: the route's 422 with its field errors.
        bad = assert_problem(post_order(http, order_body(event, ticket, 11)), 422)
        assert [e["field"] for e in bad["errors"]] == ["quantity"]
        assert_problem(post_order(http, order_body(event, ticket, 1), key="short"), 422)
        # Nothing was held by any of these: the one ticket is still there.
        assert post_order(http, order_body(event, ticket, 1)).status_code == 201
