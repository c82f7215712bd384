"""The payment provider port: what the payments service needs from any provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from domain.money import Money

PaymentStatus = Literal["pending", "succeeded", "declined", "refunded"]
PAYMENT_STATUSES: frozenset[str] = frozenset({"pending", "succeeded", "declined", "refunded"})


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider knows it."""

    payment_ref: str
    status: PaymentStatus
    amount: Money
    checkout_url: str
    order_id: str  # the merchant reference given at creation


@dataclass(frozen=True)
class WebhookEvent:
    """A verified notification that a payment reached a status."""

    payment_ref: str
    status: PaymentStatus
    delivery_id: str  # the same for every retry of one delivery


class ProviderError(Exception):
    """Base class of every error a payment provider adapter raises."""


class PaymentNotFoundError(ProviderError):
    """The provider has no payment with this reference."""


class InvalidWebhookError(ProviderError):
    """A webhook's signature is missing, wrong or expired, or its body is malformed."""


class ProviderUnavailableError(ProviderError):
    """The provider could not be reached or failed on its side; try again later."""


class InvalidPaymentStateError(ProviderError):
    """The payment's status does not allow this, such as refunding a pending payment."""


@runtime_checkable
class PaymentProvider(Protocol):
    """A payment provider: hosted checkout, status look-up, refunds and signed webhooks."""

    async def create_payment(
        self, order_id: str, amount: Money, description: str, email: str
    ) -> ProviderPayment:
        """Start a payment for an order; a repeat for the same order returns the same payment."""
        ...

    async def get_payment(self, payment_ref: str) -> ProviderPayment:
        """The payment's current status, asked of the provider (raises PaymentNotFoundError)."""
        ...

    async def refund(self, payment_ref: str) -> ProviderPayment:
        """Refund a succeeded payment; refunding it again returns it unchanged."""
        ...

    async def cancel_payment(self, payment_ref: str) -> ProviderPayment:
        """End a pending payment as declined so it can no longer succeed; returns the payment.

        A payment that already ended is returned as it is: the caller sees if it succeeded.
        """
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify and read a webhook delivery (raises InvalidWebhookError)."""
        ...
