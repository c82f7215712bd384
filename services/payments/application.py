"""Orders: the payments service's Application (the order lifecycle)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from domain.errors import NotFoundError
from domain.money import Money
from domain.order import Order, order_id_for
from services.common.application import TicketingApplication


def request_fingerprint(
    event_id: UUID, ticket_id: UUID, quantity: int, email: str, phone_number: str
) -> str:
    """A digest of an order request, to tell a retry from a different request under one key.

    The digest is of the request's canonical JSON (sorted keys, no spaces, ASCII escapes).
    For the requests a rush brings (printable ASCII, nothing to escape, a UUID's own type)
    that text is written directly, in half the time of json.dumps, and is the same text
    (tests/unit/test_request_fingerprint.py); anything else goes through json.dumps.
    """
    normalised = email.strip().lower()
    if (
        type(event_id) is UUID
        and type(ticket_id) is UUID
        and type(quantity) is int
        and _plain(normalised)
        and _plain(phone_number)
    ):
        canonical = (
            f'{{"email":"{normalised}","event_id":"{event_id}",'
            f'"phone_number":"{phone_number}","quantity":{quantity},"ticket_id":"{ticket_id}"}}'
        )
        return hashlib.sha256(canonical.encode()).hexdigest()
    return _json_fingerprint(event_id, ticket_id, quantity, email, phone_number)


def _plain(text: str) -> bool:
    """A str that json.dumps writes as it is, between quotes (nothing escaped)."""
    return (
        type(text) is str
        and text.isascii()
        and text.isprintable()
        and '"' not in text
        and "\\" not in text
    )


def _json_fingerprint(
    event_id: UUID, ticket_id: UUID, quantity: int, email: str, phone_number: str
) -> str:
    request = {
        "event_id": event_id, "ticket_id": ticket_id, "quantity": quantity,
        "email": email.strip().lower(), "phone_number": phone_number,
    }  # fmt: skip
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def payment_reference(order_id: UUID, fingerprint: str) -> str:
    """The reference an order's payment is opened under at the provider: the order's id and
    its request's fingerprint.

    A provider keeps one payment per reference, so a retry of the request finds its payment
    again, while a different request under the same Idempotency-Key (refused, or lost in a
    crash before its save) never meets, takes over or blocks the recorded order's payment.
    """
    return f"{order_id}.{fingerprint[:32]}"


def order_id_of(reference: str) -> UUID:
    """The order a payment reference names (raises ValueError); payments opened before
    references carried the request are referenced by the order's id alone."""
    return UUID(reference.partition(".")[0])


class OrderPlacement:
    """The order an Idempotency-Key and email name: found again (same request only) or created.

    Called with the order as stored (None if there is none); `created` tells what the last
    call did, so a retried save reports the outcome that was actually recorded.
    """

    def __init__(
        self,
        idempotency_key: str,
        event_id: UUID,
        ticket_id: UUID,
        quantity: int,
        email: str,
        phone_number: str,
        unit_price: Money,
    ) -> None:
        self.order_id = order_id_for(idempotency_key, email)
        self.ticket_id, self.quantity, self.email = ticket_id, quantity, email
        self.total_amount = unit_price * quantity
        self.fingerprint = request_fingerprint(event_id, ticket_id, quantity, email, phone_number)
        self.details = {
            "event_id": event_id, "ticket_id": ticket_id, "quantity": quantity,
            "email": email, "phone_number": phone_number, "unit_price": unit_price,
        }  # fmt: skip
        self.created = False

    def __call__(
        self,
        existing: Order | None,
        *,
        held_until: datetime | None = None,
        payment_ref: str | None = None,
        checkout_url: str | None = None,
    ) -> Order:
        """The existing order (if this request's), or a new one: placed, or already held
        until held_until with the payment given, recorded as one Placed event."""
        self.created = existing is None
        if existing is not None:
            existing.check_same_request(self.fingerprint)
            return existing
        return Order(
            id=self.order_id, request_fingerprint=self.fingerprint, hold_expires_at=held_until,
            payment_ref=payment_ref, checkout_url=checkout_url, **self.details,
        )  # fmt: skip


class Orders(TicketingApplication):
    """Customer orders, identified by their Idempotency-Key and email."""

    def place_order(
        self,
        idempotency_key: str,
        event_id: UUID,
        ticket_id: UUID,
        quantity: int,
        email: str,
        phone_number: str,
        unit_price: Money,
    ) -> tuple[Order, bool]:
        """Record an order, or return the one this key already placed; says if it is new."""
        placement = OrderPlacement(
            idempotency_key, event_id, ticket_id, quantity, email, phone_number, unit_price
        )

        def command() -> tuple[Order, bool]:
            try:
                existing: Order | None = self.get_order(placement.order_id)
            except NotFoundError:
                existing = None
            order = placement(existing)
            if placement.created:
                # A concurrent retry with the same key loses here, reloads, and returns ours.
                self.save(order)
            return order, placement.created

        return self.run_command(command)

    def get_order(self, order_id: UUID) -> Order:
        """The order, or NotFoundError."""
        return self.load(order_id, Order)

    def mark_held(self, order_id: UUID, expires_at: datetime) -> Order:
        """The tickets are held until expires_at."""
        return self._order_command(order_id, lambda o: o.mark_held(expires_at))

    def reject(self, order_id: UUID, reason: str) -> Order:
        """The hold was refused."""
        return self._order_command(order_id, lambda o: o.reject(reason))

    def attach_payment(self, order_id: UUID, payment_ref: str, checkout_url: str) -> Order:
        """Record the provider's payment for the order."""
        return self._order_command(order_id, lambda o: o.attach_payment(payment_ref, checkout_url))

    def mark_paid(self, order_id: UUID, payment_ref: str, paid_at: datetime) -> Order:
        """The payment succeeded."""
        return self._order_command(order_id, lambda o: o.mark_paid(payment_ref, paid_at))

    def mark_failed(self, order_id: UUID, reason: str) -> Order:
        """The payment was declined."""
        return self._order_command(order_id, lambda o: o.mark_failed(reason))

    def mark_expired(self, order_id: UUID) -> Order:
        """The hold ran out unpaid."""
        return self._order_command(order_id, lambda o: o.mark_expired(self.clock()))

    def mark_refunded(self, order_id: UUID, reason: str) -> Order:
        """The payment was returned."""
        return self._order_command(order_id, lambda o: o.mark_refunded(reason))

    def _order_command(self, order_id: UUID, decide: Callable[[Order], None]) -> Order:
        def command() -> Order:
            order = self.get_order(order_id)
            decide(order)
            self.save(order)
            return order

        return self.run_command(command)
