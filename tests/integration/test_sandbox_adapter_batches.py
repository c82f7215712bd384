"""The provider adapter's batched creates against providers that answer a batch otherwise:
one from before batches (each create then goes alone), one failing (every create in the batch
is told the provider is unavailable), one answering a malformed batch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from domain.money import Money
from services.payments.providers.base import (
    InvalidPaymentStateError,
    ProviderError,
    ProviderUnavailableError,
)
from services.payments.providers.sandbox import SandboxProvider

PRICE = Money.parse("25.00", "KES")
Answer = Callable[[bytes, dict], tuple[int, bytes]]


def payment_of(body: dict) -> dict:
    return {
        "payment_ref": f"sbx_{body['order_id']}", "status": "pending", "amount": body["amount"],
        "currency": body["currency"], "order_id": body["order_id"],
        "checkout_url": f"http://127.0.0.1/sandbox/checkout/sbx_{body['order_id']}",
    }  # fmt: skip


@asynccontextmanager
async def provider_answering(answer: Answer) -> AsyncIterator[tuple[SandboxProvider, list]]:
    """A SandboxProvider talking to a plain HTTP server whose answers `answer` decides; yields
    it and the (path, body) of every request the server read."""
    seen: list[tuple[bytes, dict]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )  # fmt: skip
                path, body = head.split(b" ")[1], json.loads(await reader.readexactly(length))
                seen.append((path, body))
                status, content = answer(path, body)
                writer.write(
                    b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (status, len(content), content)
                )
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    provider = SandboxProvider(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", b"s" * 32)
    try:
        yield provider, seen
    finally:
        await provider.aclose()
        server.close()


def creates(provider: SandboxProvider, count: int) -> list:
    return [provider.create_payment(f"order-{n}", PRICE, "1 ticket(s)", "a@b.co")
            for n in range(count)]  # fmt: skip


async def test_a_provider_without_batches_gets_each_create_alone():
    def before_batches(path: bytes, body: dict) -> tuple[int, bytes]:
        if path == b"/sandbox/payments/batch":
            return 404, b'{"detail": "Not Found"}'
        if body["order_id"] == "order-3":
            return 409, b'{"detail": "order order-3 already has a payment of 20.00 KES"}'
        return 201, json.dumps(payment_of(body)).encode()

    async with provider_answering(before_batches) as (provider, seen):
        outcomes = await asyncio.gather(*creates(provider, 6), return_exceptions=True)
    assert isinstance(outcomes[3], InvalidPaymentStateError)
    assert "20.00 KES" in str(outcomes[3])
    assert [o.order_id for i, o in enumerate(outcomes) if i != 3] == [
        f"order-{n}" for n in (0, 1, 2, 4, 5)
    ]
    singles = sorted(body["order_id"] for path, body in seen if path == b"/sandbox/payments")
    assert singles == [f"order-{n}" for n in range(6)]  # each once, after its batch's 404


async def test_a_failing_provider_fails_every_create_of_the_batch_as_unavailable():
    async with provider_answering(lambda path, body: (503, b"{}")) as (provider, seen):
        outcomes = await asyncio.gather(*creates(provider, 5), return_exceptions=True)
    assert all(isinstance(outcome, ProviderUnavailableError) for outcome in outcomes)
    assert {path for path, _ in seen} == {b"/sandbox/payments/batch"}  # nothing sent alone


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"payments": []}', b'{"results": {}}', b'{"results": []}'],
    ids=["not-json", "no-results", "results-not-a-list", "too-few-results"],
)
async def test_a_malformed_batch_answer_fails_its_creates_as_a_provider_error(content):
    async with provider_answering(lambda path, body: (200, content)) as (provider, _):
        outcomes = await asyncio.gather(*creates(provider, 3), return_exceptions=True)
    assert all(isinstance(outcome, ProviderError) for outcome in outcomes)
    assert not any(isinstance(outcome, ProviderUnavailableError) for outcome in outcomes)


async def test_a_malformed_result_fails_only_its_own_create():
    def one_bad(path: bytes, body: dict) -> tuple[int, bytes]:
        results: list = [{"status": 201, "payment": payment_of(p)} for p in body["payments"]]
        for n, payment in enumerate(body["payments"]):
            if payment["order_id"] == "order-1":
                results[n] = {"status": 201, "payment": {"payment_ref": "sbx_x"}}
        return 200, json.dumps({"results": results}).encode()

    async with provider_answering(one_bad) as (provider, seen):
        outcomes = await asyncio.gather(*creates(provider, 4), return_exceptions=True)
    assert len(seen) == 1  # the four went together
    assert isinstance(outcomes[1], ProviderError)
    assert [outcomes[n].order_id for n in (0, 2, 3)] == ["order-0", "order-2", "order-3"]
