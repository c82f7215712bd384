"""The storefront and the dashboard in a real browser, against the whole running system."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD
from tests.e2e.test_http_journeys import PASSWORD, an_admin, an_event_on_sale, order_body
from tests.web.conftest import PHONE

UNLABELLED_CONTROLS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')]
  .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
  .map((c) => c.outerHTML)"""


def assert_every_control_is_labelled(page: Page) -> None:
    assert page.evaluate(UNLABELLED_CONTROLS) == []


def assert_fits(page: Page, width: int) -> None:
    """Nothing on the page makes it scroll sideways."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def local_input(moment: datetime) -> str:
    """A datetime-local value (the browser runs in the test's time zone)."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def invite(page: Page, email: str, role: str) -> str:
    """As a signed-in superadmin, create an invite; its code."""
    page.get_by_role("link", name="Admins and invites").click()
    expect(page.get_by_role("heading", name="Admins and invites", level=1)).to_be_focused()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Create invite").click()
    code = page.locator("[data-invite=code]")
    expect(code).not_to_be_empty()
    return code.inner_text()


def add_ticket_type(page: Page, category: str, price: str, stock: int, end: datetime) -> None:
    section = page.get_by_role("region", name="Add a ticket type")
    section.get_by_label("Category").fill(category)
    section.get_by_label("Price").fill(price)
    section.get_by_label("Currency").fill("KES")
    section.get_by_label("Stock").fill(str(stock))
    section.get_by_label("Sales end").fill(local_input(end))
    section.get_by_role("button", name="Add ticket type").click()
    expect(page.get_by_role("status")).to_have_text(f"The ticket type {category} was added.")


def receipt_link(data_dir: Path, order_id: str, seconds: float = 20) -> str:
    """The order link in the receipt e-mail (written to the data folder without SMTP_URL)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in (data_dir / "mail").glob("*.eml"):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            text = message.get_body(("plain",)).get_content()
            if order_id in text:
                return re.search(r"https?://\S+#/orders/\S+", text).group(0)
        time.sleep(0.2)
    raise AssertionError(f"no receipt e-mail for order {order_id}")


def test_an_admin_sells_a_customer_buys_and_the_dashboard_shows_the_sale_live(system, watched):
    admin_email = f"web-admin-{uuid.uuid4().hex[:8]}@example.com"
    title = f"Sauti Sol Farewell {uuid.uuid4().hex[:6]}"
    event_day = datetime.now() + timedelta(days=30)  # noqa: DTZ005 (the browser's local time)

    # A superadmin invites an admin, who registers from the dashboard with the code.
    root = watched.page(system.base_url)
    sign_in(root, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    code = invite(root, admin_email, "admin")
    watched.screenshot(root, "superadmin-invite")

    admin = watched.page(system.base_url)
    admin.goto("/admin#/register")
    expect(admin.get_by_role("heading", name="Create your admin account")).to_be_visible()
    assert_every_control_is_labelled(admin)
    admin.get_by_label("E-mail").fill(admin_email)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_label("Invite code").fill(code)
    admin.get_by_role("button", name="Create account").click()
    expect(admin.get_by_role("heading", name="Events", level=1)).to_be_visible()
    expect(admin.get_by_text(f"{admin_email} (admin)")).to_be_visible()

    # The admin creates an event with two ticket types and activates it.
    admin.get_by_role("link", name="Create an event").click()
    admin.get_by_label("Title").fill(title)
    admin.get_by_label("Location").fill("Uhuru Gardens, Nairobi")
    admin.get_by_label("Date and time").fill(local_input(event_day))
    admin.get_by_label("Description").fill("The last night of the tour.")
    assert_every_control_is_labelled(admin)
    admin.get_by_role("button", name="Create event").click()
    expect(admin.get_by_role("heading", name=title, level=1)).to_be_visible()
    add_ticket_type(admin, "VIP", "25.50", 10, event_day)
    add_ticket_type(admin, "Regular", "10.00", 100, event_day)
    admin.get_by_role("button", name="Activate").click()
    expect(admin.get_by_role("status")).to_have_text("The event is now active.")
    assert_every_control_is_labelled(admin)
    # The dashboard must learn of the sale from the stream, never by loading the page again.
    expect(admin.locator("[data-stream]")).to_have_text("Live")
    admin.evaluate("window.loadedOnce = true")
    vip_row = admin.locator("table.ticket-insights tr", has_text="VIP")
    expect(vip_row.locator("[data-cell=sold]")).to_have_text("0")
    watched.screenshot(admin, "admin-event-before-sale")

    # A customer on a phone finds the event, buys two VIP tickets and pays in the sandbox.
    customer = watched.page(system.base_url, viewport=PHONE)
    customer.goto("/")
    expect(customer.get_by_role("heading", name="Upcoming events")).to_be_visible()
    result = customer.get_by_role("link", name=title)
    for _ in range(30):  # the storefront's read model follows the activation within a second
        customer.get_by_label("Search").fill(title)
        customer.get_by_role("button", name="Search").click()
        expect(customer.get_by_role("status")).not_to_be_empty()
        if result.count():
            break
        customer.wait_for_timeout(500)
    expect(result).to_be_visible()
    assert_fits(customer, PHONE["width"])
    watched.screenshot(customer, "storefront-search")
    result.click()
    expect(customer.get_by_role("heading", name=title, level=1)).to_be_visible()
    tickets = customer.get_by_role("list", name="Ticket categories").get_by_role("listitem")
    expect(tickets).to_have_count(2)
    expect(tickets.filter(has_text="VIP")).to_contain_text("25.50 KES")
    expect(tickets.filter(has_text="VIP")).to_contain_text("10 left")
    expect(tickets.filter(has_text="Regular")).to_contain_text("10.00 KES")
    expect(tickets.filter(has_text="Regular")).to_contain_text("100 left")
    assert_every_control_is_labelled(customer)
    customer.get_by_label(re.compile(r"^VIP")).check()
    customer.get_by_label("Quantity").fill("2")
    customer.get_by_label("E-mail").fill("amina@example.com")
    customer.get_by_label("Phone number").fill("+254712345678")
    expect(customer.locator(".total")).to_have_text("Total: 51.00 KES")
    assert_fits(customer, PHONE["width"])
    watched.screenshot(customer, "storefront-event")
    customer.get_by_role("button", name="Buy and pay").click()
    expect(customer.get_by_role("heading", name="Checkout")).to_be_visible()
    assert "/sandbox/checkout/" in customer.url
    watched.screenshot(customer, "sandbox-checkout")
    customer.get_by_role("button", name="Pay 51.00 KES").click()
    expect(customer.get_by_text("Payment received")).to_be_visible()

    # The admin's open page shows the sale: sold, revenue, the orders and the chart.
    expect(vip_row.locator("[data-cell=sold]")).to_have_text("2")
    expect(vip_row.locator("[data-cell=held]")).to_have_text("0")
    expect(vip_row.locator("[data-cell=remaining]")).to_have_text("8")
    expect(vip_row.locator("[data-cell=revenue]")).to_have_text("51.00 KES")
    expect(admin.locator("[data-stat=orders-paid]")).to_have_text("1")
    expect(admin.locator("[data-stat=revenue]")).to_have_text("51.00 KES")
    expect(admin.locator("figure.sales-chart")).to_have_attribute("data-tickets-last-hour", "2")
    assert admin.evaluate("window.loadedOnce") is True
    watched.screenshot(admin, "admin-event-after-sale")

    # Back on the storefront, "Back" from the checkout leads to the order, now paid.
    customer.go_back()
    customer.go_back()
    expect(customer.get_by_role("heading", name="Your order")).to_be_visible()
    expect(customer.locator(".status")).to_have_text("Paid")

    # The receipt e-mail's link opens the order page with the receipt and its PDF.
    order_id = customer.locator("dt:text-is('Order number') + dd").inner_text()
    link = receipt_link(Path(system.env["TICKETING_DATA_DIR"]), order_id)
    reader = watched.page(system.base_url, viewport=PHONE)
    reader.goto(link)
    expect(reader.get_by_role("heading", name="Your order")).to_be_visible()
    expect(reader.get_by_role("status").first).to_contain_text("Paid")
    receipt = reader.get_by_role("region", name="Receipt")
    expect(receipt.locator(".amount-paid")).to_have_text("51.00 KES")
    expect(receipt).to_contain_text(title)
    expect(receipt).to_contain_text("VIP")
    assert_fits(reader, PHONE["width"])
    watched.screenshot(reader, "order-receipt")
    with reader.expect_download() as download:
        receipt.get_by_role("button", name="Download receipt (PDF)").click()
    assert download.value.suggested_filename == f"receipt-{order_id}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")


def test_the_pages_are_served_beside_the_api_and_stay_out_of_its_description(system):
    with httpx.Client(base_url=system.base_url) as http:
        for path in ("/", "/admin"):
            page = http.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in page.headers["content-security-policy"]
        assert http.get("/static/js/store.js").headers["content-type"].startswith("text/javascript")
        assert http.get("/static/../pyproject.toml").status_code == 404
        paths = http.get("/openapi.json").json()["paths"]
        assert "/" not in paths
        assert "/admin" not in paths
        assert not [p for p in paths if p.startswith("/static")]
        assert "/admin/events" in paths
        assert "/orders/{order_id}" in paths


def test_a_customer_can_find_and_buy_with_the_keyboard_alone(system, watched):
    event, _ = an_event_on_sale(system, an_admin(system), stock=5, price="12.00")
    page = watched.page(system.base_url, viewport=PHONE)
    page.goto("/")
    expect(page.get_by_role("heading", name="Upcoming events")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type(event["title"])
    result = page.get_by_role("link", name=event["title"])
    for _ in range(30):  # the storefront's read model follows the activation within a second
        page.get_by_label("Search").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).not_to_be_empty()
        if result.count():
            break
        page.wait_for_timeout(500)
    result.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=event["title"], level=1)).to_be_focused()
    # The only category on sale is chosen already; Tab walks the form in reading order.
    page.get_by_label(re.compile(r"^VIP")).focus()
    expect(page.get_by_label(re.compile(r"^VIP"))).to_be_checked()
    for label, text in (("Quantity", "3"), ("E-mail", "kip@example.com"),
                        ("Phone number", "+254700000001")):  # fmt: skip
        page.keyboard.press("Tab")
        expect(page.get_by_label(label)).to_be_focused()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(text)
    expect(page.locator(".total")).to_have_text("Total: 36.00 KES")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Buy and pay")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    watched.screenshot(page, "keyboard-checkout")


def test_an_auditor_gets_the_audit_page_and_no_event_management(system, watched):
    admin = an_admin(system)
    event, _ = an_event_on_sale(system, admin)
    root = system.login(SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD)
    email = f"auditor-{uuid.uuid4().hex[:8]}@example.com"
    with system.client() as http:
        code = http.post(
            "/auth/invites", json={"email": email, "role": "auditor"}, headers=root
        ).json()["invite_code"]
    with system.client(headers=root) as http:
        for _ in range(50):  # the insights read model follows within a second
            events = http.get("/admin/insights").json()["events"]
            if any(e["event_id"] == event["id"] for e in events):
                break
            time.sleep(0.1)
    page = watched.page(system.base_url, viewport=PHONE)
    # The link a superadmin hands over fills in the form.
    page.goto(f"/admin#/register?email={email}&code={code}")
    expect(page.get_by_label("Invite code")).to_have_value(code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Audit", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Dashboard")
    expect(nav.get_by_role("link")).to_have_text(["Audit"])
    history = page.locator(f'a[href="#/audit?stream={event["id"]}"]')
    expect(history).to_have_text(event["title"])
    expect(page.get_by_role("button", name="Verify every stream")).to_be_visible()
    assert_every_control_is_labelled(page)
    assert_fits(page, PHONE["width"])
    watched.screenshot(page, "auditor")
    page.goto("/admin#/events")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_the_dashboard_lists_an_admins_events_with_totals_on_a_phone(system, watched):
    email = f"phone-admin-{uuid.uuid4().hex[:8]}@example.com"
    admin = an_admin(system, email)
    event, ticket = an_event_on_sale(system, admin, price="30.00")
    with system.client() as http:
        placed = http.post("/orders", json=order_body(event, ticket, 1),
                           headers={"Idempotency-Key": f"key-{uuid.uuid4()}"})  # fmt: skip
        assert placed.status_code == 201, placed.text
    page = watched.page(system.base_url, viewport=PHONE)
    sign_in(page, email, PASSWORD)
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
    row = page.get_by_role("row", name=re.compile(re.escape(event["title"])))
    expect(row).to_contain_text("Active")
    expect(page.locator("[data-stat=pending]")).to_have_text("1")
    assert_fits(page, PHONE["width"])
    watched.screenshot(page, "dashboard-phone")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/admin#/events")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
