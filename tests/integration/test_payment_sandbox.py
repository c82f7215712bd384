"""The payment sandbox under uvicorn, on SQLite and PostgreSQL, through its HTTP API and adapter."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from domain.money import Money
from services.common.database import SqliteDatabase
from services.common.settings import Settings
from services.payments.providers import (
    InvalidPaymentStateError,
    InvalidWebhookError,
    PaymentNotFoundError,
    ProviderUnavailableError,
)
from services.payments.providers.sandbox import SandboxProvider, signature_header
from services.payments.providers.sandbox_app import WebhookDeliveryWorker
from services.payments.providers.sandbox_main import webhook_url_for
from services.payments.providers.sandbox_store import SandboxStore
from tests.integration.sandbox_helpers import SECRET, a_fresh_store, running_sandbox
from tests.ports import a_free_port

PRICE = Money(2500, "USD")
DESCRIPTION = "2 standing tickets, Nairobi Jazz Night"


# --- real servers -------------------------------------------------------------------------
# One sandbox per kind of store serves the module: every test works on payments of its own, and
# the webhook receiver answers each payment's deliveries from that payment's own script.


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int

    @property
    def data(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server in the gateway's place."""

    url: str = ""
    scripts: dict[str, list[int]] = field(default_factory=dict)  # by payment_ref
    default_answer: int = 204
    received: list[Received] = field(default_factory=list)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        script = self.scripts.get(payment_ref_in(body), [])
        status = script.pop(0) if script else self.default_answer
        self.received.append(Received(headers, body, time.monotonic(), status))
        return status

    def for_payment(self, payment_ref: str) -> list[Received]:
        return [r for r in self.received if payment_ref_in(r.body) == payment_ref]


def payment_ref_in(body: bytes) -> str | None:
    try:
        return json.loads(body)["payment_ref"]
    except (ValueError, KeyError, TypeError):
        return None


@contextmanager
def serving_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/payments/webhook"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request, tmp_path_factory) -> Iterator[SandboxStore]:
    with a_fresh_store(request.param, request, tmp_path_factory.mktemp("sandbox")) as store:
        yield store


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with serving_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def sandbox(store, receiver, tmp_path_factory) -> Iterator[str]:
    with running_sandbox(store, receiver.url, tmp_path_factory.mktemp("data")) as base_url:
        yield base_url


@pytest.fixture
async def provider(sandbox):
    provider = SandboxProvider(sandbox, SECRET.encode())
    yield provider
    await provider.aclose()


@pytest.fixture
async def http(sandbox):
    async with httpx.AsyncClient(base_url=sandbox) as client:
        yield client


async def eventually(check: Callable[[], object], seconds: float = 5.0):
    """Poll until check() gives something truthy, and return it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not become true in time")


def an_order() -> str:
    return str(uuid.uuid4())


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert "type" in body
    return body


# --- creating and checking out ---------------------------------------------------------------


async def test_a_new_payment_is_pending_with_an_absolute_checkout_url(sandbox, provider):
    order_id = an_order()
    payment = await provider.create_payment(order_id, PRICE, DESCRIPTION, "ada@example.com")
    assert payment.status == "pending"
    assert payment.amount == PRICE
    assert payment.order_id == order_id
    assert payment.payment_ref.startswith("sbx_")
    assert payment.checkout_url == f"{sandbox}/sandbox/checkout/{payment.payment_ref}"


async def test_creating_the_payment_of_an_order_again_returns_the_same_payment(http, provider):
    body = {
        "order_id": an_order(),
        "amount": "25.00",
        "currency": "USD",
        "description": DESCRIPTION,
        "email": "ada@example.com",
    }
    first = await http.post("/sandbox/payments", json=body)
    again = await http.post("/sandbox/payments", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    through_the_adapter = await provider.create_payment(body["order_id"], PRICE, "", "a@b.c")
    assert through_the_adapter.payment_ref == first.json()["payment_ref"]


async def test_a_second_payment_for_an_order_with_another_amount_is_refused(http, provider):
    order_id = an_order()
    await provider.create_payment(order_id, PRICE, DESCRIPTION, "ada@example.com")
    with pytest.raises(InvalidPaymentStateError):
        await provider.create_payment(order_id, Money(3000, "USD"), "", "ada@example.com")
    body = {"order_id": order_id, "amount": "25.00", "currency": "KES"}
    response = await http.post(
        "/sandbox/payments", json=body | {"description": "", "email": "a@b.c"}
    )
    assert_problem(response, 409)


async def test_the_checkout_page_shows_the_amount_and_a_pay_and_a_decline_button(http, provider):
    payment = await provider.create_payment(
        an_order(), PRICE, "<script>alert(1)</script> VIP", "ada@example.com"
    )
    page = await http.get(payment.checkout_url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "25.00 USD" in page.text
    assert 'name="outcome" value="succeeded"' in page.text
    assert 'name="outcome" value="declined"' in page.text
    assert ">Pay 25.00 USD</button>" in page.text
    assert ">Decline</button>" in page.text
    assert f'action="/sandbox/payments/{payment.payment_ref}/complete"' in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; VIP" in page.text
    assert "<script>" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_the_checkout_page_of_an_unknown_payment_is_a_not_found_page(http):
    page = await http.get("/sandbox/checkout/sbx_nothing_here")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no payment at this address" in page.text


async def test_paying_at_checkout_succeeds_and_the_status_endpoint_says_so(http, provider):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    click = await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", data={"outcome": "succeeded"}
    )
    assert click.status_code == 303
    assert click.headers["location"] == f"/sandbox/checkout/{payment.payment_ref}"
    status = await http.get(f"/sandbox/payments/{payment.payment_ref}")
    assert status.status_code == 200
    assert {key: status.json()[key] for key in ("payment_ref", "status", "amount", "currency")} == {
        "payment_ref": payment.payment_ref,
        "status": "succeeded",
        "amount": "25.00",
        "currency": "USD",
    }
    assert (await provider.get_payment(payment.payment_ref)).status == "succeeded"
    page = await http.get(click.headers["location"])
    assert "Payment received" in page.text
    assert "<button" not in page.text


async def test_the_webhook_reaches_the_receiver_signed_so_that_the_provider_accepts_it(
    http, provider, receiver, store
):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    completed = await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "succeeded"}
    )
    assert completed.status_code == 200
    assert completed.json()["status"] == "succeeded"
    [delivery] = await eventually(lambda: receiver.for_payment(payment.payment_ref))
    event = provider.parse_webhook(delivery.headers, delivery.body)
    assert (event.payment_ref, event.status) == (payment.payment_ref, "succeeded")
    assert delivery.data == {
        "delivery_id": event.delivery_id,
        "payment_ref": payment.payment_ref,
        "status": "succeeded",
        "amount": "25.00",
        "currency": "USD",
        "order_id": payment.order_id,
        "occurred_at": delivery.data["occurred_at"],
    }
    assert delivery.headers["Content-Type"] == "application/json"
    [stored] = await eventually(
        lambda: [d for d in store.deliveries_for(payment.payment_ref) if d.delivered_at]
    )
    assert (stored.id, stored.attempts, stored.last_error) == (event.delivery_id, 1, None)


async def test_a_webhook_is_retried_with_backoff_until_the_receiver_acknowledges_it(
    http, provider, receiver, store
):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    receiver.scripts[payment.payment_ref] = [500, 500]
    await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "succeeded"}
    )
    [stored] = await eventually(
        lambda: [d for d in store.deliveries_for(payment.payment_ref) if d.delivered_at]
    )
    attempts = receiver.for_payment(payment.payment_ref)
    assert [attempt.answered for attempt in attempts] == [500, 500, 204]
    assert {attempt.data["delivery_id"] for attempt in attempts} == {stored.id}
    assert all(provider.parse_webhook(a.headers, a.body).status == "succeeded" for a in attempts)
    # 0.05 s after the first failure, 0.1 s after the second.
    assert attempts[1].at - attempts[0].at >= 0.05
    assert attempts[2].at - attempts[1].at >= 0.1
    assert (stored.attempts, stored.last_error) == (3, None)


async def test_declining_at_checkout_marks_the_payment_declined_and_announces_it(
    http, provider, receiver
):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    response = await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "declined"}
    )
    assert response.json()["status"] == "declined"
    assert (await provider.get_payment(payment.payment_ref)).status == "declined"
    [delivery] = await eventually(lambda: receiver.for_payment(payment.payment_ref))
    assert provider.parse_webhook(delivery.headers, delivery.body).status == "declined"
    page = await http.get(payment.checkout_url)
    assert "Payment declined" in page.text


async def test_completing_again_changes_nothing_and_the_other_outcome_is_a_conflict(
    http, provider, store
):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    path = f"/sandbox/payments/{payment.payment_ref}/complete"
    first = await http.post(path, json={"outcome": "succeeded"})
    again = await http.post(path, json={"outcome": "succeeded"})
    assert again.status_code == 200
    assert again.json() == first.json()
    other = await http.post(path, json={"outcome": "declined"})
    assert "succeeded" in assert_problem(other, 409)["detail"]
    clicked_late = await http.post(path, data={"outcome": "declined"})
    assert clicked_late.status_code == 303
    assert (await provider.get_payment(payment.payment_ref)).status == "succeeded"
    assert len(store.deliveries_for(payment.payment_ref)) == 1


# --- refunds ---------------------------------------------------------------------------------


async def test_refunding_a_succeeded_payment_marks_it_refunded_and_announces_it_once(
    http, provider, receiver, store
):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "succeeded"}
    )
    refunded = await provider.refund(payment.payment_ref)
    assert refunded.status == "refunded"
    assert (await provider.refund(payment.payment_ref)).status == "refunded"
    assert (await http.post(f"/sandbox/payments/{payment.payment_ref}/refund")).status_code == 200

    def both_delivered():
        deliveries = store.deliveries_for(payment.payment_ref)
        return len(deliveries) == 2 and all(d.delivered_at for d in deliveries) and deliveries

    deliveries = await eventually(both_delivered)
    assert [d.status for d in deliveries] == ["succeeded", "refunded"]
    refund_webhooks = [
        r for r in receiver.for_payment(payment.payment_ref) if r.data["status"] == "refunded"
    ]
    assert len(refund_webhooks) == 1
    event = provider.parse_webhook(refund_webhooks[0].headers, refund_webhooks[0].body)
    assert (event.status, event.delivery_id) == ("refunded", deliveries[1].id)


async def test_refunding_a_pending_payment_is_a_conflict(http, provider):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    with pytest.raises(InvalidPaymentStateError):
        await provider.refund(payment.payment_ref)
    response = await http.post(f"/sandbox/payments/{payment.payment_ref}/refund")
    assert "pending" in assert_problem(response, 409)["detail"]


# --- cancelling (when an order's hold runs out) ------------------------------------------------


async def test_cancelling_a_pending_payment_declines_it_so_that_paying_later_is_refused(
    http, provider, receiver, store
):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    cancelled = await provider.cancel_payment(payment.payment_ref)
    assert cancelled.status == "declined"
    assert (await provider.cancel_payment(payment.payment_ref)).status == "declined"
    late = await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "succeeded"}
    )
    assert_problem(late, 409)
    assert "Payment declined" in (await http.get(payment.checkout_url)).text
    [delivery] = await eventually(lambda: receiver.for_payment(payment.payment_ref))
    assert provider.parse_webhook(delivery.headers, delivery.body).status == "declined"
    assert len(store.deliveries_for(payment.payment_ref)) == 1


async def test_cancelling_a_payment_that_succeeded_leaves_it_succeeded(http, provider, store):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    await http.post(
        f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "succeeded"}
    )
    assert (await provider.cancel_payment(payment.payment_ref)).status == "succeeded"
    assert [d.status for d in store.deliveries_for(payment.payment_ref)] == ["succeeded"]
    with pytest.raises(PaymentNotFoundError):
        await provider.cancel_payment("sbx_unknown")


# --- errors ----------------------------------------------------------------------------------


async def test_an_unknown_payment_is_a_404_problem_on_every_endpoint(http, provider):
    ref = "sbx_unknown"
    assert_problem(await http.get(f"/sandbox/payments/{ref}"), 404)
    complete = await http.post(f"/sandbox/payments/{ref}/complete", json={"outcome": "succeeded"})
    assert_problem(complete, 404)
    assert_problem(await http.post(f"/sandbox/payments/{ref}/refund"), 404)
    with pytest.raises(PaymentNotFoundError):
        await provider.get_payment(ref)
    with pytest.raises(PaymentNotFoundError):
        await provider.refund("sbx_../../payments")


async def test_a_bad_completion_is_a_422_problem_naming_the_field(http, provider):
    payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "ada@example.com")
    path = f"/sandbox/payments/{payment.payment_ref}/complete"
    cases = [
        ({"json": {"outcome": "maybe"}}, {"outcome"}),
        ({"json": {"outcome": "succeeded", "tip": "5.00"}}, {"tip"}),
        ({"json": {}}, {"outcome"}),
        ({"json": ["succeeded"]}, {"body"}),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, {"body"}),
        ({"data": {"outcome": "paid"}}, {"outcome"}),
    ]
    for request, fields in cases:
        response = await http.post(path, **request)
        errors = assert_problem(response, 422)["errors"]
        assert {error["field"] for error in errors} == fields, request
        assert all(error["message"] for error in errors)
    assert (await provider.get_payment(payment.payment_ref)).status == "pending"


async def test_a_bad_payment_request_is_a_422_problem_naming_each_field(http):
    good = {
        "order_id": an_order(),
        "amount": "25.00",
        "currency": "USD",
        "description": DESCRIPTION,
        "email": "ada@example.com",
    }
    cases = [
        ({"amount": 25.0}, {"amount"}),
        ({"amount": "25.5"}, {"amount"}),
        ({"amount": "0.00"}, {"amount"}),
        ({"amount": "-1.00", "currency": "usd"}, {"amount", "currency"}),
        ({"email": "not an email"}, {"email"}),
        ({"coupon": "FREE"}, {"coupon"}),
    ]
    for change, fields in cases:
        response = await http.post("/sandbox/payments", json=good | change)
        errors = assert_problem(response, 422)["errors"]
        assert {error["field"] for error in errors} == fields, change
    missing = await http.post("/sandbox/payments", json={"order_id": an_order()})
    fields = {error["field"] for error in assert_problem(missing, 422)["errors"]}
    assert fields == {"amount", "currency", "description", "email"}
    assert_problem(await http.get("/sandbox/nowhere"), 404)
    wrong_method = await http.delete("/sandbox/payments")
    assert_problem(wrong_method, 405)
    assert wrong_method.headers["allow"] == "POST"


# --- durability ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_deliveries_pending_when_the_sandbox_stops_are_delivered_after_it_restarts(
    kind, request, tmp_path
):
    with a_fresh_store(kind, request, tmp_path) as store, serving_receiver() as receiver:
        receiver.default_answer = 503
        with running_sandbox(store, receiver.url, tmp_path) as base_url:
            async with httpx.AsyncClient(base_url=base_url) as http:
                provider = SandboxProvider(base_url, SECRET.encode())
                payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "a@b.c")
                await provider.aclose()
                path = f"/sandbox/payments/{payment.payment_ref}/complete"
                await http.post(path, json={"outcome": "succeeded"})
            await eventually(lambda: receiver.for_payment(payment.payment_ref))
        [pending] = store.deliveries_for(payment.payment_ref)
        assert pending.delivered_at is None
        assert pending.last_error == "HTTP 503"

        receiver.default_answer = 204
        with running_sandbox(store, receiver.url, tmp_path):
            [delivered] = await eventually(
                lambda: [d for d in store.deliveries_for(payment.payment_ref) if d.delivered_at]
            )
        assert delivered.id == pending.id
        assert receiver.for_payment(payment.payment_ref)[-1].answered == 204


def test_webhook_retries_wait_one_second_doubling_up_to_a_minute_for_ever():
    worker = WebhookDeliveryWorker(SandboxStore(SqliteDatabase(":memory:")), "http://x", b"k")
    waits = [worker.backoff_seconds(failures) for failures in (1, 2, 3, 4, 5, 6, 7, 8)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert worker.backoff_seconds(100_000) == 60


# --- the adapter on its own ------------------------------------------------------------------


def signed(body: bytes, secret: str = SECRET, age_seconds: int = 0) -> dict[str, str]:
    return {
        "X-Sandbox-Signature": signature_header(
            secret.encode(), body, int(time.time()) - age_seconds
        )
    }


WEBHOOK = json.dumps(
    {"delivery_id": "dlv_1", "payment_ref": "sbx_1", "status": "succeeded", "amount": "25.00"}
).encode()


def test_parse_webhook_accepts_a_fresh_signature_whatever_the_header_case():
    provider = SandboxProvider("http://127.0.0.1:9", SECRET.encode())
    header = signed(WEBHOOK)["X-Sandbox-Signature"]
    for name in ("X-Sandbox-Signature", "x-sandbox-signature", "X-SANDBOX-SIGNATURE"):
        event = provider.parse_webhook({name: header}, WEBHOOK)
        assert (event.delivery_id, event.payment_ref, event.status) == (
            "dlv_1",
            "sbx_1",
            "succeeded",
        )
    assert provider.parse_webhook(signed(WEBHOOK, age_seconds=299), WEBHOOK).payment_ref == "sbx_1"


TAMPERED = WEBHOOK.replace(b"succeeded", b"refunded")
UNKNOWN_STATUS = WEBHOOK.replace(b"succeeded", b"paid")


@pytest.mark.parametrize(
    ("make_headers", "body"),
    [
        pytest.param(lambda: signed(WEBHOOK), TAMPERED, id="tampered"),
        pytest.param(
            lambda: signed(WEBHOOK, secret="another-secret-" * 3), WEBHOOK, id="wrong-secret"
        ),
        pytest.param(dict, WEBHOOK, id="missing-header"),
        pytest.param(lambda: signed(WEBHOOK, age_seconds=301), WEBHOOK, id="301-seconds-old"),
        pytest.param(lambda: signed(WEBHOOK, age_seconds=-301), WEBHOOK, id="301-seconds-ahead"),
        pytest.param(lambda: {"X-Sandbox-Signature": "v1=00ff"}, WEBHOOK, id="no-timestamp"),
        pytest.param(lambda: signed(b"[1, 2]"), b"[1, 2]", id="not-an-object"),
        pytest.param(
            lambda: signed(b'{"payment_ref": "x"}'), b'{"payment_ref": "x"}', id="missing-keys"
        ),
        pytest.param(lambda: signed(UNKNOWN_STATUS), UNKNOWN_STATUS, id="unknown-status"),
    ],
)
def test_parse_webhook_refuses_what_the_sandbox_did_not_sign_just_now(make_headers, body):
    provider = SandboxProvider("http://127.0.0.1:9", SECRET.encode())
    with pytest.raises(InvalidWebhookError):
        provider.parse_webhook(make_headers(), body)


async def test_the_adapter_reports_an_unreachable_or_failing_sandbox_as_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = SandboxProvider(f"http://127.0.0.1:{closed_port}", SECRET.encode())
    with pytest.raises(ProviderUnavailableError):
        await unreachable.get_payment("sbx_1")
    with pytest.raises(ProviderUnavailableError):
        await unreachable.create_payment(an_order(), PRICE, "", "a@b.c")
    await unreachable.aclose()
    with serving_receiver() as failing_server:
        failing_server.default_answer = 503
        base_url = failing_server.url.removesuffix("/payments/webhook")
        failing = SandboxProvider(base_url, SECRET.encode())
        with pytest.raises(ProviderUnavailableError):
            await failing.refund("sbx_1")
        await failing.aclose()


# --- the standalone process ------------------------------------------------------------------


def test_the_sandbox_sends_webhooks_to_the_gateway_unless_told_otherwise():
    gateway = Settings(
        ticketing_public_url="https://tickets.example.org/", ticketing_sandbox_webhook_url=None
    )
    assert webhook_url_for(gateway) == "https://tickets.example.org/payments/webhook"
    elsewhere = Settings(ticketing_sandbox_webhook_url="http://127.0.0.1:9000/hook")
    assert webhook_url_for(elsewhere) == "http://127.0.0.1:9000/hook"


async def test_ticketing_sandbox_serves_the_sandbox_as_its_own_process(receiver, tmp_path):
    port = a_free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TICKETING_"))}
    env |= {
        "TICKETING_SANDBOX_PORT": str(port),
        "TICKETING_DATA_DIR": str(tmp_path / "data"),
        "TICKETING_PUBLIC_URL": base_url,
        "TICKETING_SANDBOX_WEBHOOK_URL": receiver.url,
    }
    command = [str(Path(sys.executable).parent / "ticketing-sandbox")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=base_url) as http:

            async def up() -> bool:
                try:
                    return (await http.get("/healthz")).json() == {"status": "ok"}
                except httpx.TransportError:
                    return False

            deadline = time.monotonic() + 20
            while not await up():
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "ticketing-sandbox did not start"
                await asyncio.sleep(0.1)
            secret = Settings(ticketing_data_dir=tmp_path / "data").secret("sandbox_webhook")
            provider = SandboxProvider(base_url, secret)
            payment = await provider.create_payment(an_order(), PRICE, DESCRIPTION, "a@b.c")
            await provider.aclose()
            assert payment.checkout_url.startswith(f"{base_url}/sandbox/checkout/sbx_")
            await http.post(
                f"/sandbox/payments/{payment.payment_ref}/complete", json={"outcome": "succeeded"}
            )
            [delivery] = await eventually(lambda: receiver.for_payment(payment.payment_ref))
            assert provider.parse_webhook(delivery.headers, delivery.body).status == "succeeded"
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=15) in {0, -signal.SIGTERM}
        assert "Application shutdown complete" in process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
