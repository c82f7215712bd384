"""Auditors against the whole running system: HTTP, the command line, tampering found."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import psycopg
import redis

from tests.e2e.conftest import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD
from tests.e2e.test_http_journeys import (
    PASSWORD,
    an_admin,
    an_event_on_sale,
    assert_problem,
    order_body,
    wait_for_status,
)


def an_auditor(system):
    root = system.login(SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    email = f"auditor-{uuid.uuid4().hex[:8]}@example.com"
    with system.client() as http:
        invite = http.post("/auth/invites", json={"email": email, "role": "auditor"}, headers=root)
        assert invite.status_code == 201, invite.text
        code = invite.json()["invite_code"]
        registered = http.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "invite_code": code}
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["role"] == "auditor"
    return system.login(email, PASSWORD)


def ticketing(system, *args, timeout=120):
    """Run the `ticketing` command line against the running system's stores."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def a_realistic_run(system):
    """An admin's event with paid, declined and pending orders; (admin, event, ticket, orders)."""
    admin = an_admin(system)
    event, ticket = an_event_on_sale(system, admin, stock=20, price="12.50")
    placed = []
    with system.client() as http:
        for n, outcome in enumerate(["succeeded"] * 4 + ["declined"] * 2 + [None] * 2):
            answer = http.post(
                "/orders",
                json=order_body(event, ticket, quantity=1 + n % 3, email=f"fan{n}@example.com"),
                headers={"Idempotency-Key": f"audit-{uuid.uuid4()}"},
            )
            assert answer.status_code == 201, answer.text
            order = answer.json()
            if outcome:
                ref = order["payment"]["payment_ref"]
                done = http.post(f"/sandbox/payments/{ref}/complete", json={"outcome": outcome})
                assert done.status_code == 200, done.text
            placed.append((order, outcome))
        for order, outcome in placed:
            if outcome:
                wait_for_status(http, order, "paid" if outcome == "succeeded" else "failed")
    return admin, event, ticket, placed


def verify(system, auditor):
    with system.client(headers=auditor) as http:
        answer = http.post("/audit/verify")
    assert answer.status_code == 200, answer.text
    return answer.json()


def eventually_clean(system, auditor, seconds=10):
    """Verification is clean once the read models have caught up with the last commands."""
    deadline = time.monotonic() + seconds
    while True:
        report = verify(system, auditor)
        if report["ok"] or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def test_auditors_read_the_history_and_verify_a_realistic_run(system):
    admin, event, ticket, placed = a_realistic_run(system)
    auditor = an_auditor(system)
    with system.client() as http:
        admin_id = http.get("/auth/me", headers=admin).json()["id"]
        assert_problem(http.get(f"/audit/streams/{event['id']}"), 401)
        assert_problem(http.get(f"/audit/streams/{event['id']}", headers=admin), 403)
        assert_problem(http.post("/audit/verify", headers=admin), 403)

    with system.client(headers=auditor) as http:
        history = http.get(f"/audit/streams/{event['id']}")
        assert history.status_code == 200, history.text
        body = history.json()
        assert (body["aggregate_id"], body["aggregate_type"]) == (event["id"], "Concert")
        # Who created the event, added its tickets and activated it, and when.
        assert [(e["version"], e["type"], e["actor"]) for e in body["events"]] == [
            (1, "Created", admin_id), (2, "TicketTypeAdded", admin_id),
            (3, "StatusChanged", admin_id),
        ]  # fmt: skip
        assert body["events"][0]["data"]["title"] == "Sauti Sol live"
        assert datetime.fromisoformat(body["events"][0]["timestamp"]).tzinfo is not None

        paid = [order for order, outcome in placed if outcome == "succeeded"]
        order_history = http.get(f"/audit/streams/{paid[0]['id']}").json()
        assert order_history["aggregate_type"] == "Order"
        assert [e["type"] for e in order_history["events"]][-1] == "Paid"

        state = http.get(f"/audit/events/{event['id']}/state",
                         params={"as_of": datetime.now(UTC).isoformat()})  # fmt: skip
        assert state.status_code == 200, state.text
        [tickets] = state.json()["tickets"]
        sold = sum(order["quantity"] for order in paid)
        held = sum(order["quantity"] for order, outcome in placed if outcome is None)
        assert (tickets["ticket_id"], tickets["sold"], tickets["held"]) == (
            ticket["id"],
            sold,
            held,
        )
        assert tickets["remaining"] == 20 - sold - held
        assert state.json()["event"]["status"] == "active"

        assert_problem(http.get(f"/audit/events/{event['id']}/state",
                                params={"as_of": "2027-03-01T19:30:00"}), 422)  # fmt: skip
        assert_problem(http.get(f"/audit/streams/{uuid.uuid4()}"), 404)
        assert_problem(http.get("/audit/streams/not-a-uuid"), 422)
        assert_problem(http.get("/audit/log", params={"limit": 0}), 422)

        items, after = [], 0
        while True:
            page = http.get("/audit/log", params={"after": after, "limit": 100})
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            if page.json()["next_after"] is None:
                break
            after = page.json()["next_after"]
        assert [item["position"] for item in items] == list(range(1, len(items) + 1))
        assert {"Concert", "TicketType", "Order"} <= {item["aggregate_type"] for item in items}

    report = eventually_clean(system, auditor)
    assert report["violations"] == []
    assert report["ok"] is True
    assert report["checked_events"] == len(items)
    assert report["read_models"].startswith("checked")

    cli = ticketing(system, "audit", "verify", "--json")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["ok"] is True
    assert "tickets log" in cli.stderr  # the progress bar
    readable = ticketing(system, "audit", "verify")
    assert readable.returncode == 0
    assert "OK: no violations" in readable.stdout
    shown = ticketing(system, "audit", "history", ticket["id"])
    assert shown.returncode == 0, shown.stderr
    assert "Reserved" in shown.stdout
    assert "Confirmed" in shown.stdout


def test_the_log_exports_as_json_lines(system, tmp_path):
    a_realistic_run(system)
    target = tmp_path / "log.jsonl"
    exported = ticketing(system, "audit", "export", "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["position"] for line in lines] == list(range(1, len(lines) + 1))
    assert {"Concert", "TicketType", "Order"} <= {line["aggregate_type"] for line in lines}
    assert f"exported {len(lines)} events" in exported.stderr


def current_prefix(system) -> tuple[redis.Redis, str]:
    client = redis.Redis.from_url(system.env["REDIS_URL"])
    return client, client.get(f"{system.env['TICKETING_REDIS_NAMESPACE']}:current").decode()


def test_a_tampered_read_model_is_reported_and_a_rebuild_clears_it(system):
    _, event, _, _ = a_realistic_run(system)
    auditor = an_auditor(system)
    assert eventually_clean(system, auditor)["ok"]
    client, prefix = current_prefix(system)
    try:
        key = f"{prefix}:doc:event:{event['id']}"
        document = json.loads(client.hget(key, "json"))
        document["tickets"][0]["remaining"] += 5
        client.hset(key, "json", json.dumps(document))
    finally:
        client.close()

    report = verify(system, auditor)
    assert report["ok"] is False
    drifted = [v for v in report["violations"] if v["check"] == "read_model"]
    assert [v["key"] for v in drifted] == [key]
    assert "tickets[0].remaining" in drifted[0]["detail"]
    cli = ticketing(system, "audit", "verify")
    assert cli.returncode == 1
    assert "[read_model] differs" in cli.stdout
    assert key in cli.stdout

    rebuilt = ticketing(system, "projections", "rebuild", "--grace-seconds", "0")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert eventually_clean(system, auditor)["ok"]


def test_an_oversell_written_into_postgresql_by_hand_is_reported(system):
    # Runs last in this module: the system's history is broken on purpose.
    _, _, ticket, _ = a_realistic_run(system)
    auditor = an_auditor(system)
    with psycopg.connect(system.env["DATABASE_URL"], autocommit=True) as conn:
        topic, state = conn.execute(
            "SELECT topic, state FROM tickets_events WHERE originator_id = %s "
            "AND topic LIKE %s ORDER BY originator_version LIMIT 1",
            (ticket["id"], "%.HoldsReserved"),
        ).fetchone()
        version = conn.execute(
            "SELECT max(originator_version) FROM tickets_events WHERE originator_id = %s",
            (ticket["id"],),
        ).fetchone()[0]
        # A batch of holds (as the tickets service records them) with one hold of 19 tickets.
        held = json.loads(bytes(state))
        forged = held | {"holds": [[str(uuid.uuid4()), 19, held["holds"][0][2]]]}
        conn.execute(
            "INSERT INTO tickets_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            (ticket["id"], version + 1, topic, json.dumps(forged).encode()),
        )
    report = verify(system, auditor)
    oversold = [v for v in report["violations"] if v["check"] == "oversold"]
    assert len(oversold) == 1, report
    assert (oversold[0]["aggregate_id"], oversold[0]["version"]) == (ticket["id"], version + 1)
    assert report["ok"] is False
    cli = ticketing(system, "audit", "verify", "--json")
    assert cli.returncode == 1
    assert any(v["check"] == "oversold" for v in json.loads(cli.stdout)["violations"])
