"""POST /sandbox/payments (and its batch form) answered by the hot path gives exactly the
route's answers.

Two sandboxes under uvicorn share one store and one public URL: one with the hot path, one
without (every create through the FastAPI route). The same requests get the same answers
from both, byte for byte; many concurrent creates each get their own right answer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from domain.money import Money
from services.payments.providers.base import InvalidPaymentStateError
from services.payments.providers.sandbox import SandboxProvider
from services.payments.providers.sandbox_hot import MAX_BODY_BYTES
from services.payments.providers.sandbox_store import SandboxStore
from tests.integration.sandbox_helpers import a_fresh_store, running_sandbox

PUBLIC_URL = "http://sandbox.example.org"
NOWHERE = "http://127.0.0.1:9/nowhere"  # no payment is completed here: no webhook is sent


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request, tmp_path_factory) -> Iterator[SandboxStore]:
    with a_fresh_store(request.param, request, tmp_path_factory.mktemp("sandbox")) as store:
        yield store


@pytest.fixture(scope="module")
def sandboxes(store, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The base URLs of the sandbox with the hot path and of the one without."""
    data = tmp_path_factory.mktemp("data")
    with (
        running_sandbox(store, NOWHERE, data, public_url=PUBLIC_URL) as hot,
        running_sandbox(store, NOWHERE, data, public_url=PUBLIC_URL, hot_creates=False) as route,
    ):
        yield hot, route


@pytest.fixture
async def hot(sandboxes):
    async with httpx.AsyncClient(base_url=sandboxes[0]) as client:
        yield client


@pytest.fixture
async def route(sandboxes):
    async with httpx.AsyncClient(base_url=sandboxes[1]) as client:
        yield client


def a_body(**change: object) -> dict:
    return {
        "order_id": str(uuid.uuid4()),
        "amount": "25.00",
        "currency": "KES",
        "description": "2 standing tickets, Nairobi Jazz Night",
        "email": "ada@example.com",
    } | change


def hot_creates_so_far() -> float:
    """Creates the hot path has queued in this process (its group-commit batch sizes' sum)."""
    value = REGISTRY.get_sample_value(
        "ticketing_group_commit_batch_size_sum", {"queue": "sandbox_payments"}
    )
    return value or 0.0


async def post(client: httpx.AsyncClient, content: bytes, content_type: str = "application/json"):
    response = await client.post(
        "/sandbox/payments", content=content, headers={"content-type": content_type}
    )
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("content-length"),
        response.content,
    )


async def test_a_new_payment_and_its_repeat_are_answered_alike_by_both(hot, route):
    for first, second in ((hot, route), (route, hot)):
        body = orjson.dumps(a_body())
        created = await post(first, body)
        assert created[:2] == (201, "application/json")
        # The same payment again, from each: 200 and the very bytes of the 201.
        assert await post(second, body) == (200, *created[1:])
        assert await post(first, body) == (200, *created[1:])
        payment = json.loads(created[3])
        assert payment["checkout_url"] == f"{PUBLIC_URL}/sandbox/checkout/{payment['payment_ref']}"
        assert payment["status"] == "pending"


async def test_the_hot_path_answers_the_body_the_provider_adapter_sends(hot):
    before = hot_creates_so_far()
    body = json.dumps(a_body()).encode()  # as aiohttp's json= writes it
    assert (await post(hot, body))[0] == 201
    assert (await post(hot, body))[0] == 200
    assert hot_creates_so_far() == before + 2


async def test_an_amount_that_conflicts_gets_the_routes_409_from_both(hot, route):
    body = a_body()
    assert (await post(hot, orjson.dumps(body)))[0] == 201
    other_amount = orjson.dumps(body | {"amount": "30.00"})
    conflict = await post(route, other_amount)
    assert conflict[:2] == (409, "application/problem+json")
    assert await post(hot, other_amount) == conflict
    assert json.loads(conflict[3])["detail"] == (
        f"order {body['order_id']} already has a payment of 25.00 KES"
    )


BAD_BODIES = [
    pytest.param(b"{not json", id="malformed"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[1, 2]", id="array"),
    pytest.param(b"null", id="null"),
    pytest.param(b"\xef\xbb\xbf" + orjson.dumps(a_body()), id="byte-order-mark"),
    pytest.param(orjson.dumps(a_body(coupon="FREE")), id="extra-field"),
    pytest.param(orjson.dumps({"order_id": "only-this"}), id="missing-fields"),
    pytest.param(orjson.dumps(a_body(amount=25.0)), id="amount-number"),
    pytest.param(orjson.dumps(a_body(order_id=12)), id="order-id-number"),
    pytest.param(orjson.dumps(a_body(email=None)), id="null-email"),
    pytest.param(orjson.dumps(a_body(amount="25.5")), id="one-decimal"),
    pytest.param(orjson.dumps(a_body(amount="0.00")), id="zero"),
    pytest.param(orjson.dumps(a_body(amount="-1.00", currency="usd")), id="two-bad-fields"),
    pytest.param(orjson.dumps(a_body(currency="KES\n")), id="currency-newline"),
    pytest.param(orjson.dumps(a_body(email="not an email")), id="bad-email"),
    pytest.param(orjson.dumps(a_body(order_id="x" * 256)), id="long-order-id"),
    pytest.param(orjson.dumps(a_body(description="x" * 501)), id="long-description"),
]


@pytest.mark.parametrize("content", BAD_BODIES)
async def test_a_bad_body_gets_the_same_problem_from_both(hot, route, content):
    before = hot_creates_so_far()
    refused = await post(route, content)
    assert refused[:2] == (422, "application/problem+json")
    assert await post(hot, content) == refused
    assert hot_creates_so_far() == before  # the hot path left it to the route


UNUSUAL_BUT_GOOD = [
    pytest.param(lambda: (orjson.dumps(a_body(email="a\x1c@b.c")), "application/json"), id="x1c"),
    pytest.param(lambda: (orjson.dumps(a_body()), "text/plain"), id="text-plain"),
    pytest.param(
        lambda: (orjson.dumps(a_body()) + b" " * MAX_BODY_BYTES, "application/json"),
        id="padded-past-the-buffer",
    ),
]


@pytest.mark.parametrize("make", UNUSUAL_BUT_GOOD)
async def test_a_good_body_the_hot_path_leaves_to_the_route_is_created_all_the_same(
    hot, route, make
):
    content, content_type = make()
    before = hot_creates_so_far()
    created = await post(hot, content, content_type)
    assert created[0] == 201
    assert await post(route, content, content_type) == (200, *created[1:])
    assert hot_creates_so_far() == before


async def test_many_concurrent_creates_each_get_their_own_answer(hot, store):
    orders = [a_body() for _ in range(120)]
    requests = (
        orders  # 120 new orders,
        + orders[:50]  # 50 repeats,
        + [order | {"amount": "99.00"} for order in orders[50:80]]  # 30 conflicting amounts
    )
    answers = await asyncio.gather(
        *(hot.post("/sandbox/payments", json=request) for request in requests)
    )
    by_order: dict[str, list[tuple[dict, httpx.Response]]] = defaultdict(list)
    for request, answer in zip(requests, answers, strict=True):
        by_order[request["order_id"]].append((request, answer))
    for order_id, tries in by_order.items():
        statuses = Counter(answer.status_code for _, answer in tries)
        assert statuses[201] == 1, (order_id, statuses)
        [created] = [answer.json() for _, answer in tries if answer.status_code == 201]
        for request, answer in tries:
            if request["amount"] == created["amount"]:
                assert answer.status_code in {200, 201}
                assert answer.json() == created
            else:  # whichever came second of the two amounts is refused, alone
                assert answer.status_code == 409
                assert answer.json()["detail"].endswith(f"{created['amount']} KES")
    ids = [order["order_id"] for order in orders]
    rows = store.database.query(
        "SELECT order_id, payment_ref FROM sandbox_payments "
        f"WHERE order_id IN ({', '.join(['%s'] * len(ids))})",
        ids,
    )
    assert Counter(order_id for order_id, _ in rows) == Counter(ids)
    assert dict(rows) == {
        order_id: next(a.json() for _, a in tries if a.status_code == 201)["payment_ref"]
        for order_id, tries in by_order.items()
    }


# --- POST /sandbox/payments/batch: many creates in one request ------------------------------


async def post_batch(client: httpx.AsyncClient, content: bytes):
    response = await client.post(
        "/sandbox/payments/batch", content=content, headers={"content-type": "application/json"}
    )
    return response.status_code, response.headers.get("content-type"), response.content


async def test_a_batch_answers_each_create_in_its_place_alike_from_both(hot, route, store):
    for first, second in ((hot, route), (route, hot)):
        new, repeated, conflicting = a_body(), a_body(), a_body()
        assert (await post(first, orjson.dumps(repeated)))[0] == 201
        assert (await post(first, orjson.dumps(conflicting)))[0] == 201
        batch = [
            new,
            repeated,
            conflicting | {"amount": "99.00"},
            new,  # the same order again, later in the batch: found again
            new | {"amount": "30.00"},  # and with another amount: refused alone
        ]
        before = hot_creates_so_far()
        status, content_type, content = await post_batch(first, orjson.dumps({"payments": batch}))
        assert (status, content_type) == (200, "application/json")
        results = json.loads(content)["results"]
        assert [result["status"] for result in results] == [201, 200, 409, 200, 409]
        assert results[3]["payment"] == results[0]["payment"]
        assert results[0]["payment"]["order_id"] == new["order_id"]
        assert results[0]["payment"]["amount"] == "25.00"
        assert results[2]["problem"] == {
            "type": "about:blank", "title": "Conflict", "status": 409,
            "detail": f"order {conflicting['order_id']} already has a payment of 25.00 KES",
        }  # fmt: skip
        assert "payment" not in results[2]
        # The same batch again, from the other: every create found again or refused, the
        # very bytes but for the new payment's 201, now a 200.
        again = json.loads((await post_batch(second, orjson.dumps({"payments": batch})))[2])
        results[0]["status"] = 200
        assert again["results"] == results
        assert hot_creates_so_far() == before + (5 if first is hot else 0) + (
            5 if second is hot else 0
        )
        rows = store.database.query(
            "SELECT count(*) FROM sandbox_payments WHERE order_id = %s", [new["order_id"]]
        )
        assert rows == [(1,)]


BAD_BATCHES = [
    pytest.param(b"{not json", id="malformed"),
    pytest.param(orjson.dumps([a_body()]), id="a-bare-list"),
    pytest.param(orjson.dumps({"payments": []}), id="empty"),
    pytest.param(orjson.dumps({"payments": [a_body()] * 501}), id="too-many"),
    pytest.param(orjson.dumps({"payments": a_body()}), id="not-a-list"),
    pytest.param(orjson.dumps({"payments": [a_body()], "more": 1}), id="extra-field"),
    pytest.param(orjson.dumps({"payments": [a_body(), a_body(amount="0.00")]}), id="one-bad"),
    pytest.param(orjson.dumps({"payments": [a_body(), None]}), id="one-null"),
]


@pytest.mark.parametrize("content", BAD_BATCHES)
async def test_a_bad_batch_is_refused_whole_with_the_same_problem_from_both(
    hot, route, store, content
):
    before = hot_creates_so_far()
    refused = await post_batch(route, content)
    assert refused[:2] == (422, "application/problem+json")
    assert await post_batch(hot, content) == refused
    assert hot_creates_so_far() == before
    assert json.loads(refused[2])["errors"]  # each bad field named


async def test_the_adapter_sends_creates_made_together_in_batches(hot, store):
    provider = SandboxProvider(str(hot.base_url), b"s" * 32)
    try:
        orders = [str(uuid.uuid4()) for _ in range(60)]
        price = Money.parse("25.00", "KES")
        calls = [provider.create_payment(order_id, price, "1 ticket(s)", "a@b.co")
                 for order_id in orders]  # fmt: skip
        calls.append(provider.create_payment(orders[0], Money.parse("26.00", "KES"), "", "a@b.co"))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert provider._creates.batches < len(calls) / 2  # most shared a request
    finally:
        await provider.aclose()
    payments, conflict = outcomes[:-1], outcomes[-1]
    assert [payment.order_id for payment in payments] == orders
    assert all(payment.amount == price and payment.status == "pending" for payment in payments)
    # The other amount for the first order was refused, alone, whichever went first.
    assert isinstance(conflict, InvalidPaymentStateError)
    rows = store.database.query(
        "SELECT order_id, payment_ref FROM sandbox_payments "
        f"WHERE order_id IN ({', '.join(['%s'] * len(orders))})",
        orders,
    )
    assert dict(rows) == {payment.order_id: payment.payment_ref for payment in payments}
