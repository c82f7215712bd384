"""An in-memory payment provider for unit tests of the layers above the port."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import replace

from domain.money import Money
from services.payments.providers.base import (
    PAYMENT_STATUSES,
    InvalidPaymentStateError,
    InvalidWebhookError,
    PaymentNotFoundError,
    PaymentStatus,
    ProviderPayment,
    ProviderUnavailableError,
    WebhookEvent,
)

SIGNATURE_HEADER = "x-fake-signature"


class FakePaymentProvider:
    """Keeps payments in a dict; a test decides each outcome and may take the provider down."""

    def __init__(self) -> None:
        self.payments: dict[str, ProviderPayment] = {}
        # What the customer was shown and where the receipt goes, by payment_ref.
        self.checkout_details: dict[str, tuple[str, str]] = {}
        self.unavailable = False
        self._key = secrets.token_bytes(32)

    async def create_payment(
        self, order_id: str, amount: Money, description: str, email: str
    ) -> ProviderPayment:
        """A pending payment, or the one this order already has."""
        self._check_available()
        for payment in self.payments.values():
            if payment.order_id == order_id:
                if payment.amount != amount:
                    raise InvalidPaymentStateError(f"order {order_id} has a payment of another sum")
                return payment
        payment_ref = f"fake_{secrets.token_hex(8)}"
        payment = ProviderPayment(
            payment_ref=payment_ref,
            status="pending",
            amount=amount,
            checkout_url=f"https://checkout.fake.test/{payment_ref}",
            order_id=order_id,
        )
        self.payments[payment_ref] = payment
        self.checkout_details[payment_ref] = (description, email)
        return payment

    async def get_payment(self, payment_ref: str) -> ProviderPayment:
        """The payment as last set."""
        self._check_available()
        return self._payment(payment_ref)

    async def refund(self, payment_ref: str) -> ProviderPayment:
        """Refund a succeeded payment; a refunded one is returned as it is."""
        self._check_available()
        payment = self._payment(payment_ref)
        if payment.status not in {"succeeded", "refunded"}:
            raise InvalidPaymentStateError(f"cannot refund a {payment.status} payment")
        return self.set_outcome(payment_ref, "refunded")

    async def cancel_payment(self, payment_ref: str) -> ProviderPayment:
        """Decline a pending payment; an ended one is returned as it is."""
        self._check_available()
        if self._payment(payment_ref).status != "pending":
            return self._payment(payment_ref)
        return self.set_outcome(payment_ref, "declined")

    def set_outcome(self, payment_ref: str, status: PaymentStatus) -> ProviderPayment:
        """Move a payment to any status, as the customer or the provider would."""
        payment = replace(self._payment(payment_ref), status=status)
        self.payments[payment_ref] = payment
        return payment

    def webhook_for(
        self, payment_ref: str, delivery_id: str = "fake-delivery-1"
    ) -> tuple[dict[str, str], bytes]:
        """Signed headers and body of a webhook announcing the payment's current status."""
        payment = self._payment(payment_ref)
        body = json.dumps(
            {"payment_ref": payment_ref, "status": payment.status, "delivery_id": delivery_id}
        ).encode()
        return {SIGNATURE_HEADER: self._sign(body)}, body

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Accept only what webhook_for signed."""
        signatures = [v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER]
        if not signatures or not hmac.compare_digest(signatures[0], self._sign(body)):
            raise InvalidWebhookError("missing or wrong signature")
        try:
            data = json.loads(body)
            event = WebhookEvent(data["payment_ref"], data["status"], data["delivery_id"])
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidWebhookError("malformed webhook body") from error
        if event.status not in PAYMENT_STATUSES:
            raise InvalidWebhookError(f"unknown status {event.status!r}")
        return event

    def _payment(self, payment_ref: str) -> ProviderPayment:
        try:
            return self.payments[payment_ref]
        except KeyError:
            raise PaymentNotFoundError(payment_ref) from None

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def _check_available(self) -> None:
        if self.unavailable:
            raise ProviderUnavailableError("the fake provider is down")
