"""The sandbox adapter: the payment provider port over the sandbox's HTTP API and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from domain.money import Money
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


# httpcore checks every pooled connection on each request, so a pool sized for 100 costs more
# CPU per payment than the sandbox's answer takes; a few kept-alive connections keep up.
POOL_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16)


class SandboxProvider:
    """Talks to the payment sandbox like to any hosted-checkout provider."""

    def __init__(
        self,
        base_url: str,
        secret: bytes,
        http: httpx.AsyncClient | None = None,
        *,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = httpx.Timeout(timeout_seconds)
        self.clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(limits=POOL_LIMITS)

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_http:
            await self._http.aclose()

    async def create_payment(
        self, order_id: str, amount: Money, description: str, email: str
    ) -> ProviderPayment:
        """Start (or find again) the payment of an order."""
        body = {
            "order_id": order_id,
            "amount": str(amount),
            "currency": amount.currency,
            "description": description,
            "email": email,
        }
        return await self._call("POST", "/sandbox/payments", body, unknown=ProviderError)

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
        try:
            response = await self._http.request(
                method, self.base_url + path, json=body, timeout=self.timeout
            )
        except httpx.RequestError as error:
            raise ProviderUnavailableError(f"the sandbox did not answer: {error!r}") from error
        if response.status_code >= 500:
            raise ProviderUnavailableError(f"the sandbox failed with {response.status_code}")
        if response.is_success:
            return self._payment(response)
        detail = _detail(response)
        if response.status_code == 404:
            raise unknown(detail)
        if response.status_code == 409:
            raise InvalidPaymentStateError(detail)
        raise ProviderError(f"the sandbox refused the request ({response.status_code}): {detail}")

    @staticmethod
    def _payment(response: httpx.Response) -> ProviderPayment:
        try:
            data = response.json()
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


def _detail(response: httpx.Response) -> str:
    """The problem document's detail, or the start of whatever the body was."""
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
