"""Order: a customer's purchase, from hold to payment (or failure, expiry, refund)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.concert import check_aware
from domain.errors import (
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    InvalidValueError,
    PaymentMismatchError,
)
from domain.money import Money

MAX_TICKETS_PER_ORDER = 10
ORDER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:ticketing:orders")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class OrderStatus(Enum):
    """Where an order is in its life."""

    PLACED = "placed"  # recorded; tickets not yet held
    REJECTED = "rejected"  # the hold was refused (sold out, not on sale)
    PENDING = "pending"  # tickets held, waiting for payment
    PAID = "paid"
    FAILED = "failed"  # payment declined; hold released
    EXPIRED = "expired"  # hold ran out unpaid; released
    REFUNDED = "refunded"


def order_id_for(idempotency_key: str, email: str) -> UUID:
    """The order's id follows from the buyer's idempotency key and email, so retries meet."""
    return uuid5(ORDER_NAMESPACE, f"{email.strip().lower()}\n{idempotency_key}")


def check_email(email: str) -> None:
    """A plausible email address."""
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidValueError(f"email {email!r} is not a valid address")


def check_phone_number(phone_number: str) -> None:
    """A phone number in E.164 form, such as +254712345678."""
    if not isinstance(phone_number, str) or not _E164.fullmatch(phone_number):
        raise InvalidValueError(f"phone number {phone_number!r} is not in E.164 form")


def check_quantity(quantity: int) -> None:
    """Between one and MAX_TICKETS_PER_ORDER tickets per order."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidValueError("quantity must be a whole number")
    if not 1 <= quantity <= MAX_TICKETS_PER_ORDER:
        raise InvalidValueError(f"quantity must be between 1 and {MAX_TICKETS_PER_ORDER}")


class Order(Aggregate):
    """A customer's order of tickets of one ticket type."""

    @event("Placed")
    def __init__(
        self,
        id: UUID,
        event_id: UUID,
        ticket_id: UUID,
        quantity: int,
        email: str,
        phone_number: str,
        unit_price: Money,
        request_fingerprint: str,
        hold_expires_at: datetime | None = None,
        payment_ref: str | None = None,
        checkout_url: str | None = None,
    ) -> None:
        """A new order: placed, or (in a rush: one event instead of three) already held
        until hold_expires_at, and with its payment attached if payment_ref is given.

        Placed events stored before the last three fields existed carry none of them and
        come back as they were: placed.
        """
        check_quantity(quantity)
        check_email(email)
        check_phone_number(phone_number)
        if not isinstance(unit_price, Money):
            raise InvalidValueError("unit_price must be money")
        if hold_expires_at is not None:
            check_aware("hold_expires_at", hold_expires_at)
        if payment_ref is not None or checkout_url is not None:
            if hold_expires_at is None:
                raise InvalidValueError("a payment is attached only to an order that is held")
            if not payment_ref or checkout_url is None:
                raise InvalidValueError("a payment needs its payment_ref and checkout_url")
        self.event_id = event_id
        self.ticket_id = ticket_id
        self.quantity = quantity
        self.email = email
        self.phone_number = phone_number
        self.total_amount = unit_price * quantity
        self.request_fingerprint = request_fingerprint
        self.status = OrderStatus.PLACED if hold_expires_at is None else OrderStatus.PENDING
        self.hold_expires_at: datetime | None = hold_expires_at
        self.payment_ref: str | None = payment_ref
        self.checkout_url: str | None = checkout_url
        self.paid_at: datetime | None = None
        self.failure_reason: str | None = None

    def check_same_request(self, request_fingerprint: str) -> None:
        """A reused idempotency key must carry the same request."""
        if request_fingerprint != self.request_fingerprint:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used with a different request"
            )

    def mark_held(self, expires_at: datetime) -> None:
        """The tickets are held: the order waits for payment until expires_at."""
        if self.status is OrderStatus.PENDING and self.hold_expires_at == expires_at:
            return
        self.check_status("mark as held", OrderStatus.PLACED)
        check_aware("expires_at", expires_at)
        self._mark_held(expires_at=expires_at)

    @event("Held")
    def _mark_held(self, expires_at: datetime) -> None:
        self.status = OrderStatus.PENDING
        self.hold_expires_at = expires_at

    def reject(self, reason: str) -> None:
        """The hold was refused; the order ends before any payment."""
        if self.status is OrderStatus.REJECTED:
            return
        self.check_status("reject", OrderStatus.PLACED)
        self._reject(reason=reason)

    @event("Rejected")
    def _reject(self, reason: str) -> None:
        self.status = OrderStatus.REJECTED
        self.failure_reason = reason

    def attach_payment(self, payment_ref: str, checkout_url: str) -> None:
        """Record the payment the provider opened for this order."""
        if self.payment_ref == payment_ref and self.checkout_url == checkout_url:
            return
        self.check_status("attach a payment to", OrderStatus.PENDING)
        if self.payment_ref is not None:
            raise PaymentMismatchError("the order already has a payment")
        if not payment_ref:
            raise InvalidValueError("payment_ref must not be empty")
        self._attach_payment(payment_ref=payment_ref, checkout_url=checkout_url)

    @event("PaymentAttached")
    def _attach_payment(self, payment_ref: str, checkout_url: str) -> None:
        self.payment_ref = payment_ref
        self.checkout_url = checkout_url

    def mark_paid(self, payment_ref: str, paid_at: datetime) -> None:
        """Payment succeeded; a repeat of the same confirmation changes nothing."""
        self.check_payment_ref(payment_ref)
        if self.status is OrderStatus.PAID:
            return
        self.check_status("mark as paid", OrderStatus.PENDING)
        check_aware("paid_at", paid_at)
        self._mark_paid(paid_at=paid_at)

    @event("Paid")
    def _mark_paid(self, paid_at: datetime) -> None:
        self.status = OrderStatus.PAID
        self.paid_at = paid_at

    def mark_failed(self, reason: str) -> None:
        """Payment was declined; the hold is to be released."""
        if self.status is OrderStatus.FAILED:
            return
        self.check_status("mark as failed", OrderStatus.PENDING)
        self._mark_failed(reason=reason)

    @event("Failed")
    def _mark_failed(self, reason: str) -> None:
        self.status = OrderStatus.FAILED
        self.failure_reason = reason

    def mark_expired(self, now: datetime) -> None:
        """The hold ran out unpaid."""
        if self.status is OrderStatus.EXPIRED:
            return
        self.check_status("expire", OrderStatus.PENDING)
        assert self.hold_expires_at is not None
        if now < self.hold_expires_at:
            raise InvalidTransitionError(f"the order's hold runs until {self.hold_expires_at}")
        self._mark_expired()

    @event("Expired")
    def _mark_expired(self) -> None:
        self.status = OrderStatus.EXPIRED

    def mark_refunded(self, reason: str) -> None:
        """The payment was returned to the customer."""
        if self.status is OrderStatus.REFUNDED:
            return
        self.check_status("refund", OrderStatus.PAID)
        self._mark_refunded(reason=reason)

    @event("Refunded")
    def _mark_refunded(self, reason: str) -> None:
        self.status = OrderStatus.REFUNDED

    def check_status(self, action: str, *allowed: OrderStatus) -> None:
        """Refuse a transition the order's status does not allow."""
        if self.status not in allowed:
            raise InvalidTransitionError(f"cannot {action} an order that is {self.status.value}")

    def check_payment_ref(self, payment_ref: str) -> None:
        """A payment confirmation must name the payment attached to the order."""
        if self.payment_ref is None:
            raise PaymentMismatchError("the order has no payment attached yet")
        if payment_ref != self.payment_ref:
            raise PaymentMismatchError("the payment reference does not match this order")
