"""The auditor's page in a real browser against the real /audit API of the running system.

A module of its own: the last test drifts a read model on purpose, and the system fixture is
per module.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.e2e.conftest import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD
from tests.e2e.test_audit import current_prefix, eventually_clean
from tests.e2e.test_http_journeys import (
    PASSWORD,
    an_admin,
    an_event_on_sale,
    order_body,
    wait_for_status,
)
from tests.web.conftest import PHONE
from tests.web.test_journeys import assert_every_control_is_labelled, assert_fits, invite, sign_in

# The auditor's browser runs in Nairobi (UTC+3 all year), so the times it shows can be checked.
ZONE = "Africa/Nairobi"
NAIROBI = ZoneInfo(ZONE)


def clock(timestamp: str) -> str:
    """The API's ISO time as the auditor's page shows it: HH:MM:SS in Nairobi."""
    return datetime.fromisoformat(timestamp).astimezone(NAIROBI).strftime("%H:%M:%S")


def logged_events(system, auditor) -> int:
    """How many events the global audit log holds, paged through over HTTP."""
    count, after = 0, 0
    with system.client(headers=auditor) as http:
        while after is not None:
            page = http.get("/audit/log", params={"after": after, "limit": 100}).json()
            count += len(page["items"])
            after = page["next_after"]
    return count


def history_rows(page: Page):
    return page.locator("table.history tbody tr")


def expect_state(page: Page, category: str, sold: int, held: int, remaining: int) -> None:
    row = page.locator("table.state tbody tr", has_text=category)
    expect(row.locator("[data-cell=sold]")).to_have_text(str(sold))
    expect(row.locator("[data-cell=held]")).to_have_text(str(held))
    expect(row.locator("[data-cell=remaining]")).to_have_text(str(remaining))


def test_an_auditor_reads_the_history_verifies_and_sees_a_drifted_read_model(system, watched):
    auditor_email = f"auditor-{uuid.uuid4().hex[:8]}@example.com"

    # A superadmin invites an auditor from the dashboard.
    root = watched.page(system.base_url)
    sign_in(root, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    code = invite(root, auditor_email, "auditor")

    # An admin creates and activates an event; a customer buys two VIP tickets and pays.
    admin_email = f"audited-admin-{uuid.uuid4().hex[:8]}@example.com"
    admin = an_admin(system, admin_email)
    with system.client(headers=admin) as http:
        admin_id = http.get("/auth/me").json()["id"]
    event, ticket = an_event_on_sale(system, admin, stock=10, price="25.00")
    with system.client() as http:
        placed = http.post("/orders", json=order_body(event, ticket, 2),
                           headers={"Idempotency-Key": f"key-{uuid.uuid4()}"})  # fmt: skip
        assert placed.status_code == 201, placed.text
        order = placed.json()
        ref = order["payment"]["payment_ref"]
        paid = http.post(f"/sandbox/payments/{ref}/complete", json={"outcome": "succeeded"})
        assert paid.status_code == 200, paid.text
        wait_for_status(http, order, "paid")

    # The auditor registers with the invite in the browser and lands on the audit page.
    page = watched.page(system.base_url, timezone_id=ZONE, locale="en-GB")
    page.goto("/admin#/register")
    page.get_by_label("E-mail").fill(auditor_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Invite code").fill(code)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Audit", level=1)).to_be_visible()
    auditor = system.login(auditor_email, PASSWORD)
    # The read models follow the commands within a second; then nothing may be out of place.
    assert eventually_clean(system, auditor)["ok"]
    page.reload()
    assert_every_control_is_labelled(page)

    # The event's history: who created it, added its tickets and activated it, and when.
    known = page.get_by_role("region", name="Events and their ticket types")
    known.get_by_role("link", name=event["title"]).click()
    expect(page.get_by_role("heading", name="History of a stream")).to_be_focused()
    history = history_rows(page)
    expect(page.locator("table.history caption")).to_have_text(
        f"Concert “{event['title']}”: 3 events"
    )
    expect(history.locator("th")).to_have_text(["Created", "TicketTypeAdded", "StatusChanged"])
    expect(history.locator("[data-cell=actor]")).to_have_text([admin_id] * 3)
    with system.client(headers=auditor) as http:
        recorded = http.get(f"/audit/streams/{event['id']}").json()["events"]
    for row, recorded_event in zip(history.all(), recorded, strict=True):
        time = row.locator("[data-cell=recorded] time")
        expect(time).to_have_attribute("datetime", recorded_event["timestamp"])
        expect(time).to_contain_text(clock(recorded_event["timestamp"]))
    watched.screenshot(page, "event-history")
    # A superadmin, who may list the accounts, reads the same history with the admin's e-mail.
    root.goto(f"/admin#/audit?stream={event['id']}")
    expect(history_rows(root).locator("[data-cell=actor]")).to_have_text(
        [f"{admin_id} ({admin_email})"] * 3
    )

    # Verification replays every event in the log and finds nothing wrong.
    page.get_by_role("button", name="Verify every stream").click()
    verdict = page.locator("#verify-result [data-verified]")
    checked = logged_events(system, auditor)
    expect(verdict).to_have_text(f"OK: no violations in {checked} events replayed.")
    expect(verdict).to_have_attribute("data-verified", "ok")

    # The ticket type's history shows the hold and the sale; the verdict stays on the page.
    known.get_by_role("link", name="VIP").click()
    expect(page.locator("table.history caption")).to_have_text("TicketType “VIP”: 4 events")
    expect(history.filter(has=page.locator("th", has_text="Reserved"))).to_have_count(1)
    expect(history.filter(has=page.locator("th", has_text="Confirmed"))).to_have_count(1)
    reserved = history.filter(has=page.locator("th", has_text="Reserved"))
    expect(reserved.locator("[data-cell=actor]")).to_have_text("a customer or the system")
    expect(verdict).to_have_text(f"OK: no violations in {checked} events replayed.")

    # The event as it stood right after the hold, and right after the sale.
    reserved.get_by_role("link", name=re.compile(r"^State then")).click()
    expect(page.get_by_role("heading", name="An event at a moment")).to_be_focused()
    expect_state(page, "VIP", sold=0, held=2, remaining=8)
    confirmed = history.filter(has=page.locator("th", has_text="Confirmed"))
    confirmed.get_by_role("link", name=re.compile(r"^State then")).click()
    expect_state(page, "VIP", sold=2, held=0, remaining=8)
    expect(page.get_by_label("Event", exact=True)).to_have_value(event["id"])
    watched.screenshot(page, "ticket-history-and-state")

    # A moment typed in the auditor's own time, before the event existed.
    yesterday = datetime.now(NAIROBI) - timedelta(days=1)
    page.get_by_label("As of").fill(yesterday.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show state").click()
    state = page.get_by_role("region", name="An event at a moment")
    expect(state.get_by_role("alert").filter(has_text="did not exist")).to_contain_text(
        yesterday.strftime("%H:%M:%S")
    )
    asked = parse_qs(urlsplit(page.url).fragment.partition("?")[2])["as_of"]
    assert asked == [yesterday.strftime("%Y-%m-%dT%H:%M:%S+03:00")]  # the browser's offset
    # And now: the sale as the read model shows it to everyone.
    now = datetime.now(NAIROBI) + timedelta(minutes=1)
    page.get_by_label("As of").fill(now.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show state").click()
    expect_state(page, "VIP", sold=2, held=0, remaining=8)
    expect(state.locator("[data-fact=status]")).to_have_text("active")
    assert_every_control_is_labelled(page)

    # A read model drifts: its event document claims five more tickets left than history has.
    client, prefix = current_prefix(system)
    key = f"{prefix}:doc:event:{event['id']}"
    original = client.hget(key, "json")
    try:
        document = json.loads(original)
        document["tickets"][0]["remaining"] += 5
        client.hset(key, "json", json.dumps(document))
        page.get_by_role("button", name="Verify every stream").click()
        expect(verdict).to_have_attribute("data-verified", "violations")
        expect(verdict).to_have_text(f"1 violation found in {checked} events replayed.")
        drifted = page.get_by_role("list", name="Violations").get_by_role("listitem")
        expect(drifted).to_have_count(1)
        expect(drifted).to_have_attribute("data-check", "read_model")
        expect(drifted.locator("code")).to_have_text(key)
        expect(drifted).to_contain_text("tickets[0].remaining")
        expect(drifted.get_by_role("link", name=f"history of {event['id']}")).to_be_visible()
        watched.screenshot(page, "read-model-drift")
    finally:
        client.hset(key, "json", original)
        client.close()

    # Put back, the read model agrees with history again.
    page.get_by_role("button", name="Verify every stream").click()
    expect(verdict).to_have_text(f"OK: no violations in {checked} events replayed.")

    # The view is its link: on a phone, in a new session, it draws again and fits the screen.
    phone = watched.page(system.base_url, viewport=PHONE, timezone_id=ZONE, locale="en-GB")
    sign_in(phone, auditor_email, PASSWORD)
    expect(phone.get_by_role("heading", name="Audit", level=1)).to_be_visible()
    phone.goto(page.url)
    expect(phone.locator("table.history caption")).to_have_text("TicketType “VIP”: 4 events")
    expect_state(phone, "VIP", sold=2, held=0, remaining=8)
    watched.screenshot(phone, "phone")
    assert_fits(phone, PHONE["width"])
