"""The sandbox adapter: the payment provider port over the sandbox's HTTP API and webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from domain.money import Money
from services.common.group_commit import BatchQueue
from services.common.http1 import Http1Pool, ServerDisconnectedError
from services.payments.providers.base import (
    PAYMENT_STATUSES,
    InvalidPaymentStateError,
    InvalidWebhookError,
    PaymentNotFoundError,
    ProviderError,
    ProviderPayment,
    ProviderUnavailableError,
    WebhookEvent,
)

SIGNATURE_HEADER = "X-Sandbox-Signature"
JSON = b"application/json"
REPLAY_WINDOW_SECONDS = 300


def signature_header(secret: bytes, body: bytes, timestamp: int) -> str:
    """The X-Sandbox-Signature value for a body sent at a unix time (Stripe's scheme)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify_signature(
    secret: bytes,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: int = REPLAY_WINDOW_SECONDS,
) -> None:
    """Raise InvalidWebhookError unless the header signs this body within the replay window."""
    if not header:
        raise InvalidWebhookError(f"the {SIGNATURE_HEADER} header is missing")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    timestamps, signatures = fields.get("t", []), fields.get("v1", [])
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        raise InvalidWebhookError(f"the {SIGNATURE_HEADER} header is malformed")
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > tolerance:
        raise InvalidWebhookError("the webhook's timestamp is outside the replay window")
    expected = _digest(secret, body, timestamp)
    # Several v1 values are allowed so that a secret can be rotated without downtime.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidWebhookError("the webhook's signature does not match")


def _digest(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# Kept-alive connections to the provider. In a rush the payments service opens one payment per
# order: httpx spent about a third of the process's CPU on these requests, aiohttp about
# 70 µs each, services/common/http1.py about 20 µs (bench/RESULTS.md, bench/http_client.py).
POOL_CONNECTIONS = 32
# Idle connections are dropped before the provider closes them (uvicorn, which serves the
# sandbox, closes after 5 s): reusing one it has just closed fails the request.
KEEPALIVE_SECONDS = 2.0
# Payments opened while a batch of creates is in flight go together in the next
# POST /sandbox/payments/batch: in a rush that is one request for many orders, where one each
# cost both processes a request's parsing, routing and answer. Up to this many per request,
# one request at a time: two or three at once made smaller batches and cost more CPU per
# order (bench/rush_ab.py, 1,267 against 1,229 holds/s for two; bench/RESULTS.md).
CREATES_PER_CALL = 100
CREATE_LANES = 1


class SandboxProvider:
    """Talks to the payment sandbox like to any hosted-checkout provider."""

    def __init__(
        self,
        base_url: str,
        secret: bytes,
        *,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.clock = clock
        self._http = Http1Pool(
            self.base_url,
            limit=POOL_CONNECTIONS,
            keepalive=KEEPALIVE_SECONDS,
            timeout=timeout_seconds,
        )
        self._creates: BatchQueue[dict[str, str], ProviderPayment] = BatchQueue(
            self._create_batch, CREATES_PER_CALL, name="provider_creates", lanes=CREATE_LANES
        )

    async def aclose(self) -> None:
        """Let the queued creates finish, then close the kept-alive connections."""
        await self._creates.close()
        await self._http.aclose()

    async def create_payment(
        self, order_id: str, amount: Money, description: str, email: str
    ) -> ProviderPayment:
        """Start (or find again) the payment of an order.

        Creates queued while others are in flight go to the sandbox together, in one
        POST /sandbox/payments/batch; each caller gets its own payment or refusal.
        """
        body = {
            "order_id": order_id,
            "amount": str(amount),
            "currency": amount.currency,
            "description": description,
            "email": email,
        }
        return await self._creates.submit(body)

    async def _create_batch(
        self, bodies: list[dict[str, str]]
    ) -> list[ProviderPayment | Exception]:
        """One POST /sandbox/payments/batch: each create's payment or refusal, in its place.

        A sandbox that answers the batch with anything but 200 or a 5xx (one from before
        batches: 404 or 405; a body refused whole: 422) gets each create on its own instead,
        so that one bad create fails alone, as it would have.
        """
        status, text = await self._send(
            "POST", "/sandbox/payments/batch", orjson.dumps({"payments": bodies})
        )
        if status >= 500:
            raise ProviderUnavailableError(f"the sandbox failed with {status}")
        if status != 200:
            outcomes = await asyncio.gather(
                *(self._call("POST", "/sandbox/payments", body, ProviderError) for body in bodies),
                return_exceptions=True,
            )
            return [o if isinstance(o, ProviderPayment | Exception) else ProviderError(repr(o))
                    for o in outcomes]  # fmt: skip
        try:
            results = orjson.loads(text)["results"]
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderError("the sandbox answered a batch with a malformed body") from error
        if type(results) is not list or len(results) != len(bodies):
            raise ProviderError("the sandbox answered a batch with another number of results")
        return [self._batch_result(result) for result in results]

    def _batch_result(self, result: Any) -> ProviderPayment | Exception:
        if type(result) is not dict:
            return ProviderError("the sandbox answered a batch with a malformed result")
        status = result.get("status")
        if status in (200, 201):
            try:
                return self._parse_payment(result.get("payment"))
            except ProviderError as error:
                return error
        problem = result.get("problem")
        detail = str(problem.get("detail", "")) if type(problem) is dict else ""
        if status == 409:
            return InvalidPaymentStateError(detail)
        return ProviderError(f"the sandbox refused a payment of the batch ({status}): {detail}")

    async def get_payment(self, payment_ref: str) -> ProviderPayment:
        """Ask the sandbox for the payment's current status."""
        return await self._call("GET", f"/sandbox/payments/{quote(payment_ref, safe='')}")

    async def refund(self, payment_ref: str) -> ProviderPayment:
        """Refund a succeeded payment."""
        path = f"/sandbox/payments/{quote(payment_ref, safe='')}/refund"
        return await self._call("POST", path)

    async def cancel_payment(self, payment_ref: str) -> ProviderPayment:
        """Decline the payment if it is still pending; return it as it ends up."""
        path = f"/sandbox/payments/{quote(payment_ref, safe='')}/cancel"
        return await self._call("POST", path)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify the signature and replay window, then read the event."""
        header = next(
            (value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER.lower()),
            None,
        )
        verify_signature(self.secret, header, body, self.clock())
        try:
            data = json.loads(body)
            event = WebhookEvent(data["payment_ref"], data["status"], data["delivery_id"])
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidWebhookError("the webhook's body is malformed") from error
        if not all(isinstance(value, str) and value for value in event.__dict__.values()):
            raise InvalidWebhookError("the webhook's body is malformed")
        if event.status not in PAYMENT_STATUSES:
            raise InvalidWebhookError(f"the webhook names an unknown status {event.status!r}")
        return event

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        unknown: type[ProviderError] = PaymentNotFoundError,
    ) -> ProviderPayment:
        payload = None if body is None else orjson.dumps(body)
        status, text = await self._send(method, path, payload)
        if status >= 500:
            raise ProviderUnavailableError(f"the sandbox failed with {status}")
        if 200 <= status < 300:
            return self._payment(text)
        detail = _detail(text)
        if status == 404:
            raise unknown(detail)
        if status == 409:
            raise InvalidPaymentStateError(detail)
        raise ProviderError(f"the sandbox refused the request ({status}): {detail}")

    async def _send(self, method: str, path: str, payload: bytes | None) -> tuple[int, str]:
        """The sandbox's status and body (ProviderUnavailableError if it did not answer)."""
        try:
            try:
                status, answer = await self._http.request(method, path, payload, JSON)
            except (ServerDisconnectedError, ConnectionResetError, BrokenPipeError):
                # Most often a kept-alive connection the sandbox closed as we reused it. Every
                # sandbox call is idempotent (a payment per order id; cancel, refund and reads
                # repeat safely), so it is sent once more, on a fresh connection.
                status, answer = await self._http.request(method, path, payload, JSON)
        except (OSError, TimeoutError) as error:  # ConnectionError, InvalidResponseError too
            raise ProviderUnavailableError(f"the sandbox did not answer: {error!r}") from error
        return status, answer.decode("utf-8", "replace")

    @classmethod
    def _payment(cls, text: str) -> ProviderPayment:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ProviderError("the sandbox answered with a malformed payment") from error
        return cls._parse_payment(data)

    @staticmethod
    def _parse_payment(data: Any) -> ProviderPayment:
        try:
            payment = ProviderPayment(
                payment_ref=data["payment_ref"],
                status=data["status"],
                amount=Money.parse(data["amount"], data["currency"]),
                checkout_url=data["checkout_url"],
                order_id=data["order_id"],
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderError("the sandbox answered with a malformed payment") from error
        if payment.status not in PAYMENT_STATUSES:
            raise ProviderError(f"the sandbox answered with a status {payment.status!r}")
        return payment


def _detail(text: str) -> str:
    """The problem document's detail, or the start of whatever the body was."""
    try:
        return str(json.loads(text)["detail"])
    except (ValueError, KeyError, TypeError):
        return text[:200]
