"""Admins and customers through the public HTTP API, against the whole running system."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD

PASSWORD = "a long enough password"


def an_admin(system, email=None):
    """Invite, register and log in a new admin; their auth headers."""
    root = system.login(SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    email = email or f"admin-{uuid.uuid4().hex[:8]}@example.com"
    with system.client() as http:
        invite = http.post("/auth/invites", json={"email": email, "role": "admin"}, headers=root)
        assert invite.status_code == 201, invite.text
        registered = http.post(
            "/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "invite_code": invite.json()["invite_code"],
            },
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["role"] == "admin"
    return system.login(email, PASSWORD)


def an_event_on_sale(system, admin, stock=10, price="25.00", activate=True):
    now = datetime.now(UTC)
    with system.client(headers=admin) as http:
        event = http.post("/admin/events", json={
            "title": "Sauti Sol live", "description": "Farewell tour", "location": "Nairobi",
            "date_time": (now + timedelta(days=30)).isoformat(),
        })  # fmt: skip
        assert event.status_code == 201, event.text
        assert event.json()["status"] == "inactive"
        ticket = http.post(f"/admin/events/{event.json()['id']}/tickets", json={
            "category": "VIP", "price": price, "currency": "KES", "total_stock": stock,
            "sales_start": (now - timedelta(hours=1)).isoformat(),
            "sales_end": (now + timedelta(days=1)).isoformat(),
        })  # fmt: skip
        assert ticket.status_code == 201, ticket.text
        if activate:
            active = http.post(
                f"/admin/events/{event.json()['id']}/status", json={"status": "active"}
            )
            assert active.status_code == 200, active.text
            assert active.json()["status"] == "active"
    return event.json(), ticket.json()


def order_body(event, ticket, quantity=2, email="fan@example.com"):
    return {
        "event_id": event["id"], "ticket_id": ticket["id"], "quantity": quantity,
        "email": email, "phone_number": "+254712345678",
    }  # fmt: skip


def assert_problem(answer, status, code=None):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    if code:
        assert body.get("code") == code, body
    assert "Traceback" not in answer.text
    return body


def test_the_admin_journey_from_invite_to_cancel(system):
    admin = an_admin(system)
    with system.client(headers=admin) as http:
        me = http.get("/auth/me")
        assert me.status_code == 200
        assert me.json()["role"] == "admin"
    event, ticket = an_event_on_sale(system, admin, stock=5)
    with system.client(headers=admin) as http:
        edited = http.patch(f"/admin/events/{event['id']}", json={"title": "Sauti Sol, encore"})
        assert edited.status_code == 200
        assert edited.json()["title"] == "Sauti Sol, encore"
        restocked = http.patch(
            f"/admin/tickets/{ticket['id']}", json={"total_stock": 8, "price": "30.00"}
        )
        assert restocked.status_code == 200, restocked.text
        assert (restocked.json()["total_stock"], restocked.json()["price"]) == (8, "30.00")
        cancelled = http.post(f"/admin/events/{event['id']}/status", json={"status": "cancelled"})
        assert cancelled.json()["status"] == "cancelled"
        assert_problem(
            http.post(f"/admin/events/{event['id']}/status", json={"status": "active"}), 409
        )


def test_delete_is_only_for_events_that_never_sold(system):
    admin = an_admin(system)
    unsold, _ = an_event_on_sale(system, admin, activate=False)
    sold, ticket = an_event_on_sale(system, admin)
    with system.client() as http:
        placed = http.post("/orders", json=order_body(sold, ticket, 1),
                           headers={"Idempotency-Key": f"key-{uuid.uuid4()}"})  # fmt: skip
        assert placed.status_code == 201, placed.text
    with system.client(headers=admin) as http:
        assert http.delete(f"/admin/events/{unsold['id']}").status_code == 204
        assert_problem(http.delete(f"/admin/events/{sold['id']}"), 409)


def test_another_admins_event_is_not_found(system):
    owner, other = an_admin(system), an_admin(system)
    event, ticket = an_event_on_sale(system, owner)
    with system.client(headers=other) as http:
        assert_problem(http.patch(f"/admin/events/{event['id']}", json={"title": "x"}), 404)
        assert_problem(
            http.post(f"/admin/events/{event['id']}/status", json={"status": "inactive"}), 404
        )
        assert_problem(http.delete(f"/admin/events/{event['id']}"), 404)
        assert_problem(http.patch(f"/admin/tickets/{ticket['id']}", json={"total_stock": 1}), 404)


def wait_for_status(http, order, status, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = http.get(
            f"/orders/{order['id']}", headers={"X-Order-Token": order["order_token"]}
        )
        if current.json()["status"] == status:
            return current.json()
        time.sleep(0.2)
    raise AssertionError(f"order stayed {current.json()['status']}, never {status}")


def test_a_customer_buys_pays_in_the_sandbox_and_gets_a_receipt(system):
    event, ticket = an_event_on_sale(system, an_admin(system), stock=10, price="25.50")
    key = f"key-{uuid.uuid4()}"
    with system.client() as http:
        placed = http.post(
            "/orders", json=order_body(event, ticket), headers={"Idempotency-Key": key}
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert (order["status"], order["total_amount"], order["currency"]) == (
            "pending",
            "51.00",
            "KES",
        )
        assert order["payment"]["checkout_url"].startswith(system.base_url)
        again = http.post(
            "/orders", json=order_body(event, ticket), headers={"Idempotency-Key": key}
        )
        assert again.status_code == 200
        assert again.json()["id"] == order["id"]
        assert_problem(http.get(f"/orders/{order['id']}/receipt",
                                headers={"X-Order-Token": order["order_token"]}), 409)  # fmt: skip

        checkout = http.get(order["payment"]["checkout_url"])
        assert checkout.status_code == 200
        assert "51.00" in checkout.text
        ref = order["payment"]["payment_ref"]
        paid = http.post(f"/sandbox/payments/{ref}/complete", json={"outcome": "succeeded"})
        assert paid.status_code == 200, paid.text
        # The sandbox's signed webhook reaches the gateway, which confirms the order.
        assert wait_for_status(http, order, "paid")["status"] == "paid"
        receipt = http.get(f"/orders/{order['id']}/receipt", params={"token": order["order_token"]})
        assert receipt.status_code == 200, receipt.text
        body = receipt.json()
        assert (body["quantity"], body["total_amount"], body["payment_ref"]) == (2, "51.00", ref)
        assert body["event"]["title"] == "Sauti Sol live"
        assert body["ticket"]["category"] == "VIP"
    # Without SMTP_URL the receipt e-mail is written to the data folder's mail/.
    mail = Path(system.env["TICKETING_DATA_DIR"]) / "mail"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        receipts = [p for p in mail.glob("*.eml") if order["id"] in p.read_text(errors="replace")]
        if receipts:
            break
        time.sleep(0.2)
    assert len(receipts) == 1, f"no receipt e-mail for {order['id']} in {mail}"
    assert "fan@example.com" in receipts[0].read_text(errors="replace")
    root = system.login(SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    with system.client(headers=root) as http:
        sent = http.get(f"/admin/orders/{order['id']}/notifications")
        assert sent.status_code == 200, sent.text
        assert [(n["channel"], n["status"]) for n in sent.json()["items"]] == [("email", "sent")]
        again = http.post(f"/admin/orders/{order['id']}/notifications/email/resend")
        assert_problem(again, 409)  # only a receipt that failed for good is sent again


def test_a_declined_payment_fails_the_order(system):
    event, ticket = an_event_on_sale(system, an_admin(system))
    with system.client() as http:
        order = http.post("/orders", json=order_body(event, ticket),
                          headers={"Idempotency-Key": f"key-{uuid.uuid4()}"}).json()  # fmt: skip
        ref = order["payment"]["payment_ref"]
        http.post(f"/sandbox/payments/{ref}/complete", json={"outcome": "declined"})
        assert wait_for_status(http, order, "failed")["status"] == "failed"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"quantity": 0}, 422), ({"quantity": 11}, 422), ({"email": "nope"}, 422),
        ({"phone_number": "0712345678"}, 422), ({"unknown": 1}, 422), ({"event_id": "x"}, 422),
        ({"ticket_id": str(uuid.uuid4())}, 404),
    ],
)  # fmt: skip
def test_bad_orders_are_refused_with_problems(system, change, status):
    event, ticket = an_event_on_sale(system, an_admin(system))
    with system.client() as http:
        answer = http.post("/orders", json=order_body(event, ticket) | change,
                           headers={"Idempotency-Key": f"key-{uuid.uuid4()}"})  # fmt: skip
        body = assert_problem(answer, status)
        if status == 422:
            assert body["errors"]


def test_order_rules_sold_out_not_on_sale_key_reuse_and_missing_key(system):
    admin = an_admin(system)
    event, ticket = an_event_on_sale(system, admin, stock=1)
    draft, draft_ticket = an_event_on_sale(system, admin, activate=False)
    with system.client() as http:
        key = f"key-{uuid.uuid4()}"
        assert_problem(http.post("/orders", json=order_body(event, ticket, 2),
                                 headers={"Idempotency-Key": key}), 409, "sold_out")  # fmt: skip
        assert_problem(
            http.post(
                "/orders",
                json=order_body(draft, draft_ticket, 1),
                headers={"Idempotency-Key": key + "x"},
            ),
            409,
            "not_on_sale",
        )
        first = http.post(
            "/orders", json=order_body(event, ticket, 1), headers={"Idempotency-Key": key + "y"}
        )
        assert first.status_code == 201
        assert_problem(
            http.post(
                "/orders",
                json=order_body(event, ticket, 1) | {"phone_number": "+254700000000"},
                headers={"Idempotency-Key": key + "y"},
            ),
            422,
        )
        assert_problem(http.post("/orders", json=order_body(event, ticket, 1)), 422)
        assert_problem(
            http.post(
                "/orders", json=order_body(event, ticket, 1), headers={"Idempotency-Key": "short"}
            ),
            422,
        )
        order = first.json()
        assert_problem(http.get(f"/orders/{order['id']}"), 404)
        assert_problem(http.get(f"/orders/{order['id']}", headers={"X-Order-Token": "wrong"}), 404)


def test_auth_refusals(system):
    with system.client() as http:
        unknown = http.post(
            "/auth/login", json={"email": "nobody@example.com", "password": "x" * 12}
        )
        wrong = http.post("/auth/login", json={"email": SUPERADMIN_EMAIL, "password": "y" * 12})
        assert_problem(unknown, 401)
        assert_problem(wrong, 401)
        assert unknown.json() == wrong.json()
        assert_problem(http.post("/admin/events", json={}), 401)
        assert_problem(http.get("/auth/me", headers={"Authorization": "Bearer not.a.token"}), 401)
        admin = an_admin(system)
        assert_problem(http.post("/auth/invites", json={"email": "x@example.com", "role": "admin"},
                                 headers=admin), 403)  # fmt: skip
        assert_problem(
            http.post(
                "/auth/register",
                json={"email": "y@example.com", "password": PASSWORD, "invite_code": "bogus"},
            ),
            400,
        )
        assert_problem(
            http.post(
                "/admin/events",
                headers=admin,
                json={"title": "t", "location": "l", "date_time": "2027-03-01T19:30:00"},
            ),
            422,
        )


def test_a_forged_webhook_is_refused(system):
    with system.client() as http:
        forged = http.post("/payments/webhook", content=b'{"payment_ref": "x"}',
                           headers={"X-Sandbox-Signature": "t=1,v1=00"})  # fmt: skip
        assert_problem(forged, 400)


def test_the_other_refusals_of_the_contract(system):
    root = system.login(SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    email = f"taken-{uuid.uuid4().hex[:8]}@example.com"
    with system.client() as http:
        invite = http.post("/auth/invites", json={"email": email, "role": "auditor"}, headers=root)
        code = invite.json()["invite_code"]
        body = {"email": email, "password": PASSWORD, "invite_code": code}
        assert http.post("/auth/register", json=body).status_code == 201
        assert_problem(http.post("/auth/register", json=body), 400)  # the invite is used
        taken = http.post("/auth/invites", json={"email": email, "role": "admin"}, headers=root)
        assert_problem(taken, 409)
        auditor = system.login(email, PASSWORD)
        assert_problem(http.post("/admin/events", json={}, headers=auditor), 403)
        assert_problem(http.get("/admin/users", headers=auditor), 403)
        users = http.get("/admin/users", headers=root, params={"limit": 100})
        assert users.status_code == 200
        assert email in {user["email"] for user in users.json()["items"]}
        assert_problem(http.get("/events", params={"limit": 0}), 422)
        assert_problem(http.get("/events", params={"status": "inactive"}), 403)
        assert_problem(http.get(f"/events/{uuid.uuid4()}"), 404)
        assert_problem(http.get("/orders/not-a-uuid", params={"token": "x"}), 422)

    admin = an_admin(system)
    event, ticket = an_event_on_sale(system, admin, stock=3)
    with system.client() as http:
        placed = http.post("/orders", json=order_body(event, ticket, 2),
                           headers={"Idempotency-Key": f"key-{uuid.uuid4()}"})  # fmt: skip
        assert placed.status_code == 201
    with system.client(headers=admin) as http:
        below = http.patch(f"/admin/tickets/{ticket['id']}", json={"total_stock": 1})
        assert_problem(below, 409)
        bad_window = http.patch(
            f"/admin/tickets/{ticket['id']}",
            json={
                "sales_start": "2027-01-02T00:00:00+00:00",
                "sales_end": "2027-01-01T00:00:00+00:00",
            },
        )
        assert_problem(bad_window, 422)
        unknown_field = http.patch(f"/admin/events/{event['id']}", json={"status": "active"})
        assert_problem(unknown_field, 422)
        bad_status = http.post(f"/admin/events/{event['id']}/status", json={"status": "deleted"})
        assert_problem(bad_status, 422)
