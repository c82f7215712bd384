"""The hot create path as an ASGI layer: what it answers itself, and what reaches the app intact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import orjson
import pytest
from starlette.responses import JSONResponse

from domain.money import Money
from services.payments.providers import InvalidPaymentStateError
from services.payments.providers.sandbox_app import SandboxEndpoints, payment_document
from services.payments.providers.sandbox_hot import MAX_BODY_BYTES, HotCreates
from services.payments.providers.sandbox_store import NewPayment, SandboxPayment

ORIGIN = "https://tickets.example.org"
BODY = orjson.dumps(
    {
        "order_id": "order-1",
        "amount": "25.00",
        "currency": "KES",
        "description": "1 ticket",
        "email": "ada@example.com",
    }
)
PAYMENT = SandboxPayment(
    payment_ref="sbx_0123",
    order_id="order-1",
    amount=Money(2500, "KES"),
    description="1 ticket",
    email="ada@example.com",
    status="pending",
    created_at=datetime(2027, 3, 1, 19, 30, 0, 123456, tzinfo=UTC),
    updated_at=datetime(2027, 3, 1, 19, 30, 0, 123456, tzinfo=UTC),
)


class Recorded:
    """What reached the app behind the hot path, and what the client was sent."""

    def __init__(self) -> None:
        self.app_calls: list[bytes | str] = []  # the body each app call read, or what ended it
        self.creates: list[NewPayment] = []
        self.sent: list[dict] = []

    async def app(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                self.app_calls.append(message["type"])
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.app_calls.append(body)
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"from the app"})


async def call(
    chunks: list[bytes],
    *,
    outcome: tuple[SandboxPayment, bool] | Exception = (PAYMENT, True),
    method: str = "POST",
    path: str = "/sandbox/payments",
    content_type: bytes | None = b"application/json",
    then: list[dict] | None = None,
    outcomes: dict[str, tuple[SandboxPayment, bool] | Exception] | None = None,
) -> Recorded:
    """One request through HotCreates, its body in the given chunks."""
    recorded = Recorded()
    outcomes = outcomes or {}

    async def create(request: NewPayment) -> tuple[SandboxPayment, bool]:
        recorded.creates.append(request)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def create_many(requests) -> list[tuple[SandboxPayment, bool] | Exception]:
        recorded.creates.extend(requests)
        return [outcomes.get(request.order_id, outcome) for request in requests]

    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ] + (then or [])

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        recorded.sent.append(message)

    headers = [(b"host", b"sandbox")]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers}
    document = partial(payment_document, ORIGIN)
    hot = HotCreates(recorded.app, create, document, create_many)
    await hot(scope, receive, send)
    return recorded


def test_the_hot_answer_is_byte_for_byte_the_routes():
    odd = 'Tab\t, quote ", backslash \\, control \x01\x1f\x7f, 😀 é \u2028'
    payment = replace(PAYMENT, description=odd)
    route = SandboxEndpoints(None, ORIGIN + "/", lambda: None).public(payment)
    assert orjson.dumps(payment_document(ORIGIN, payment)) == JSONResponse(route).body


async def test_a_good_body_is_answered_without_the_app_whatever_its_chunks():
    recorded = await call([BODY[:10], BODY[10:40], BODY[40:]])
    assert recorded.app_calls == []
    assert recorded.creates == [
        NewPayment("order-1", Money(2500, "KES"), "1 ticket", "ada@example.com")
    ]
    start, body = recorded.sent
    content = orjson.dumps(payment_document(ORIGIN, PAYMENT))
    assert start == {
        "type": "http.response.start",
        "status": 201,
        "headers": [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
        ],
    }
    assert body == {"type": "http.response.body", "body": content}


async def test_a_payment_found_again_is_a_200():
    recorded = await call([BODY], outcome=(PAYMENT, False))
    assert recorded.sent[0]["status"] == 200


@pytest.mark.parametrize("content_type", [b"application/json; charset=utf-8", b"Application/JSON"])
async def test_a_json_media_type_with_parameters_or_capitals_is_json(content_type):
    recorded = await call([BODY], content_type=content_type)
    assert (recorded.app_calls, len(recorded.creates)) == ([], 1)


@pytest.mark.parametrize(
    ("request_", "expected_body"),
    [
        pytest.param({"chunks": [b"{not json"]}, b"{not json", id="malformed"),
        pytest.param({"chunks": [b""]}, b"", id="empty"),
        pytest.param({"chunks": [BODY[:-1] + b',"x":1}']}, BODY[:-1] + b',"x":1}', id="extra"),
        pytest.param({"chunks": [BODY], "content_type": None}, BODY, id="no-content-type"),
        pytest.param({"chunks": [BODY], "content_type": b"text/plain"}, BODY, id="text-plain"),
        pytest.param({"chunks": [BODY], "method": "PUT"}, BODY, id="other-method"),
        pytest.param({"chunks": [BODY], "path": "/sandbox/payments/"}, BODY, id="other-path"),
        pytest.param(
            {"chunks": [BODY], "outcome": InvalidPaymentStateError("order-1 has 30.00 KES")},
            BODY,
            id="conflict",
        ),
    ],
)
async def test_anything_else_reaches_the_app_with_its_body_intact(request_, expected_body):
    recorded = await call(**request_)
    assert recorded.app_calls == [expected_body]
    assert recorded.sent[0]["status"] == 418


async def test_a_body_too_long_to_buffer_reaches_the_app_whole_without_being_read_twice():
    padding = b" " * (MAX_BODY_BYTES // 4)
    chunks = [padding] * 5 + [BODY]  # valid JSON, but no payment request is this long
    recorded = await call(chunks)
    assert recorded.app_calls == [b"".join(chunks)]
    assert recorded.creates == []


async def test_a_client_that_leaves_mid_body_is_seen_leaving_by_the_app():
    part = {"type": "http.request", "body": BODY[:10], "more_body": True}
    recorded = await call([], then=[part, {"type": "http.disconnect"}])
    assert recorded.app_calls == ["http.disconnect"]
    assert recorded.creates == []


async def test_a_store_failure_propagates_to_the_servers_error_handling_as_the_routes_does():
    with pytest.raises(ConnectionError):
        await call([BODY], outcome=ConnectionError("the database went away"))


# --- the batch form: POST /sandbox/payments/batch ---------------------------------------------

BATCH = "/sandbox/payments/batch"


def batch_of(*order_ids: str) -> bytes:
    bodies = [orjson.loads(BODY) | {"order_id": order_id} for order_id in order_ids]
    return orjson.dumps({"payments": bodies})


async def test_a_batch_is_answered_without_the_app_each_create_in_its_place():
    found = (replace(PAYMENT, order_id="order-2"), False)
    conflict = InvalidPaymentStateError("order order-3 already has a payment of 30.00 KES")
    body = batch_of("order-1", "order-2", "order-3")
    recorded = await call(
        [body[:7], body[7:]], path=BATCH, outcomes={"order-2": found, "order-3": conflict}
    )
    assert recorded.app_calls == []
    assert [create.order_id for create in recorded.creates] == ["order-1", "order-2", "order-3"]
    start, sent = recorded.sent
    assert start["status"] == 200
    assert orjson.loads(sent["body"]) == {
        "results": [
            {"status": 201, "payment": payment_document(ORIGIN, PAYMENT)},
            {"status": 200, "payment": payment_document(ORIGIN, found[0])},
            {
                "status": 409,
                "problem": {
                    "type": "about:blank", "title": "Conflict", "status": 409,
                    "detail": "order order-3 already has a payment of 30.00 KES",
                },
            },
        ]
    }  # fmt: skip
    assert dict(start["headers"])[b"content-length"] == str(len(sent["body"])).encode()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(batch_of("order-1")[:-1] + b',"x":1}', id="extra-field"),
        pytest.param(orjson.dumps({"payments": []}), id="empty"),
        pytest.param(orjson.dumps({"payments": [orjson.loads(BODY)] * 501}), id="too-many"),
        pytest.param(orjson.dumps([orjson.loads(BODY)]), id="a-bare-list"),
        pytest.param(
            orjson.dumps({"payments": [orjson.loads(BODY), {"order_id": "x"}]}), id="one-bad"
        ),
    ],
)
async def test_a_batch_the_model_might_refuse_reaches_the_app_and_creates_nothing(content):
    recorded = await call([content], path=BATCH)
    assert recorded.app_calls == [content]
    assert recorded.creates == []


async def test_a_store_failure_in_a_batch_propagates_as_the_routes_does():
    with pytest.raises(ConnectionError):
        await call(
            [batch_of("order-1", "order-2")],
            path=BATCH,
            outcomes={"order-2": ConnectionError("the database went away")},
        )
