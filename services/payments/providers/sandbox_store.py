"""The payment sandbox's own tables: its payments and the durable outbox of its webhooks."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.money import Money
from services.common.database import Cursor, Database, Row
from services.payments.providers.base import (
    InvalidPaymentStateError,
    PaymentNotFoundError,
    PaymentStatus,
)

MIGRATIONS = [
    {
        "postgres": """
            CREATE TABLE sandbox_payments (
                payment_ref TEXT PRIMARY KEY,
                order_id TEXT NOT NULL UNIQUE,
                amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
                currency TEXT NOT NULL,
                description TEXT NOT NULL,
                email TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'succeeded', 'declined', 'refunded')),
                created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL
            );
            CREATE TABLE sandbox_webhook_deliveries (
                id TEXT PRIMARY KEY,
                payment_ref TEXT NOT NULL REFERENCES sandbox_payments (payment_ref),
                status TEXT NOT NULL,
                body TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at TIMESTAMPTZ NOT NULL,
                next_attempt_at TIMESTAMPTZ NOT NULL,
                delivered_at TIMESTAMPTZ,
                last_error TEXT
            );
            CREATE INDEX sandbox_webhook_deliveries_due
                ON sandbox_webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
            CREATE INDEX sandbox_webhook_deliveries_payment
                ON sandbox_webhook_deliveries (payment_ref)
        """,
        "sqlite": """
            CREATE TABLE sandbox_payments (
                payment_ref TEXT PRIMARY KEY,
                order_id TEXT NOT NULL UNIQUE,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                currency TEXT NOT NULL,
                description TEXT NOT NULL,
                email TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'succeeded', 'declined', 'refunded')),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE TABLE sandbox_webhook_deliveries (
                id TEXT PRIMARY KEY,
                payment_ref TEXT NOT NULL REFERENCES sandbox_payments (payment_ref),
                status TEXT NOT NULL,
                body TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                next_attempt_at TEXT NOT NULL,
                delivered_at TEXT,
                last_error TEXT
            );
            CREATE INDEX sandbox_webhook_deliveries_due
                ON sandbox_webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
            CREATE INDEX sandbox_webhook_deliveries_payment
                ON sandbox_webhook_deliveries (payment_ref)
        """,
    }
]

PAYMENT_COLUMNS = (
    "payment_ref, order_id, amount_minor, currency, description, email, status, "
    "created_at, updated_at"
)
INSERT_PAYMENT_ARRAYS = (
    f"INSERT INTO sandbox_payments ({PAYMENT_COLUMNS}) "  # noqa: S608
    "SELECT ref, order_id, amount_minor, currency, description, email, 'pending', %s, %s "
    "FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], %b::text[], %b::text[]) "
    "AS new (ref, order_id, amount_minor, currency, description, email) "
    f"ON CONFLICT (order_id) DO NOTHING RETURNING {PAYMENT_COLUMNS}"
)
DELIVERY_COLUMNS = (
    "id, payment_ref, status, body, attempts, created_at, next_attempt_at, delivered_at, last_error"
)
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class SandboxPayment:
    """One payment the sandbox took."""

    payment_ref: str
    order_id: str
    amount: Money
    description: str
    email: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewPayment:
    """A merchant's request to take a payment for an order."""

    order_id: str
    amount: Money
    description: str
    email: str


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook to deliver (or delivered): its JSON body and how the attempts went."""

    id: str
    payment_ref: str
    status: PaymentStatus
    body: bytes
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


class SandboxStore:
    """Payments and webhook deliveries on the Database port; every call is one transaction."""

    def __init__(self, database: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.database = database
        self.clock = clock

    def migrate(self) -> None:
        """Create the sandbox's tables if they are missing."""
        self.database.apply_migrations("sandbox", MIGRATIONS)

    def create_payment(
        self, order_id: str, amount: Money, description: str, email: str
    ) -> tuple[SandboxPayment, bool]:
        """A new pending payment, or the order's existing one; says whether it is new."""
        [outcome] = self.create_payments([NewPayment(order_id, amount, description, email)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def create_payments(
        self, requests: Sequence[NewPayment]
    ) -> list[tuple[SandboxPayment, bool] | Exception]:
        """create_payment for each request, as if one after the other, in one statement.

        A repeat of an order earlier in the batch gets that payment back (not new); a request
        whose amount differs from its order's payment gets InvalidPaymentStateError, alone.

        The new payments are one INSERT, committed on its own (one round trip to PostgreSQL,
        where BEGIN and COMMIT around it were two more, each a wait in a rush). The orders
        that had a payment already are read after it; a payment is never deleted and its
        amount never changes, so reading it afterwards answers as reading it inside would.
        """
        if not requests:
            return []
        firsts: dict[str, NewPayment] = {}
        for request in requests:
            firsts.setdefault(request.order_id, request)
        payments = self._insert_payments(list(firsts.values()))
        new = set(payments)
        existing = [order_id for order_id in firsts if order_id not in new]
        if existing:  # those orders' payments were there already: read them
            payments |= self._payments_of_orders(existing)
        outcomes: list[tuple[SandboxPayment, bool] | Exception] = []
        for request in requests:
            payment = payments[request.order_id]
            if payment.amount != request.amount:
                outcomes.append(amount_conflict(payment))
            else:
                outcomes.append((payment, request.order_id in new))
                new.discard(request.order_id)  # a repeat later in the batch finds it
        return outcomes

    def get_payment(self, payment_ref: str) -> SandboxPayment:
        """The payment with this reference (raises PaymentNotFoundError)."""
        with self.database.transaction() as cursor:
            return self._locked_payment(cursor, payment_ref, lock=False)

    def complete_payment(
        self, payment_ref: str, outcome: PaymentStatus
    ) -> tuple[SandboxPayment, bool]:
        """Record the customer's choice and enqueue its webhook; a repeat changes nothing."""
        if outcome not in {"succeeded", "declined"}:
            raise ValueError(f"a checkout ends succeeded or declined, not {outcome!r}")
        # A refunded payment had succeeded: paying it again is a repeat, not a conflict.
        same = {"succeeded": {"succeeded", "refunded"}, "declined": {"declined"}}[outcome]
        return self._transition(payment_ref, {"pending"}, same, outcome)

    def refund_payment(self, payment_ref: str) -> tuple[SandboxPayment, bool]:
        """Refund a succeeded payment and enqueue its webhook; a repeat changes nothing."""
        return self._transition(payment_ref, {"succeeded"}, {"refunded"}, "refunded")

    def cancel_payment(self, payment_ref: str) -> tuple[SandboxPayment, bool]:
        """Decline a pending payment (the merchant gave up on it); an ended one stays as it is."""
        ended = {"declined", "succeeded", "refunded"}
        return self._transition(payment_ref, {"pending"}, ended, "declined")

    def claim_due_deliveries(self, limit: int, lease_seconds: float) -> list[WebhookDelivery]:
        """Due undelivered webhooks, leased so that no other worker sends them meanwhile."""
        now = self.clock()
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.database.dialect == "postgres" else ""
        with self.database.transaction() as cursor:
            cursor.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM sandbox_webhook_deliveries "  # noqa: S608
                "WHERE delivered_at IS NULL AND next_attempt_at <= %s "
                f"ORDER BY next_attempt_at, id LIMIT %s{skip_locked}",
                (self._time(now), limit),
            )
            deliveries = [self._delivery(row) for row in cursor.fetchall()]
            lease_end = self._time(now + timedelta(seconds=lease_seconds))
            for delivery in deliveries:
                cursor.execute(
                    "UPDATE sandbox_webhook_deliveries SET next_attempt_at = %s WHERE id = %s",
                    (lease_end, delivery.id),
                )
        return deliveries

    def mark_delivered(self, delivery_id: str) -> None:
        """The receiver acknowledged the delivery."""
        self._update_delivery(
            "attempts = attempts + 1, delivered_at = %s, last_error = NULL",
            (self._time(self.clock()),),
            delivery_id,
        )

    def schedule_retry(self, delivery_id: str, error: str, delay_seconds: float) -> None:
        """The attempt failed: count it and try again after the delay."""
        retry_at = self.clock() + timedelta(seconds=delay_seconds)
        self._update_delivery(
            "attempts = attempts + 1, next_attempt_at = %s, last_error = %s",
            (self._time(retry_at), error[:MAX_ERROR_LENGTH]),
            delivery_id,
        )

    def release(self, delivery_id: str) -> None:
        """Give back a lease whose attempt was interrupted, uncounted and due at once."""
        self._update_delivery("next_attempt_at = %s", (self._time(self.clock()),), delivery_id)

    def deliveries_for(self, payment_ref: str) -> list[WebhookDelivery]:
        """Every webhook delivery of a payment, oldest first."""
        rows = self.database.query(
            f"SELECT {DELIVERY_COLUMNS} FROM sandbox_webhook_deliveries "  # noqa: S608
            "WHERE payment_ref = %s ORDER BY created_at, id",
            (payment_ref,),
        )
        return [self._delivery(row) for row in rows]

    def _insert_payments(self, requests: list[NewPayment]) -> dict[str, SandboxPayment]:
        """Insert a pending payment per order that has none; the new ones by order id."""
        now = self._time(self.clock())
        # In order id order: two transactions inserting the same orders (another replica, or
        # a lone create) then wait for each other's rows in the same order, never a deadlock.
        rows = [
            (new_ref("sbx"), r.order_id, r.amount.minor, r.amount.currency, r.description, r.email)
            for r in sorted(requests, key=lambda r: r.order_id)
        ]
        if self.database.dialect == "postgres":
            # One array per column: the same statement whatever the batch's size, so psycopg
            # converts and PostgreSQL plans it once (a VALUES list of the batch's length was
            # a new statement each time: 15 % of the sandbox's CPU in a rush). The arrays go
            # in binary (%b), as the event store's do: psycopg's text arrays cost ~40 µs of
            # client CPU per payment, binary ones ~19 (a throwaway timing, 20 per batch).
            inserted = self.database.query(
                INSERT_PAYMENT_ARRAYS, [now, now, *map(list, zip(*rows, strict=True))]
            )
        else:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, 'pending', %s, %s)"] * len(rows))
            inserted = self.database.query(
                f"INSERT INTO sandbox_payments ({PAYMENT_COLUMNS}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (order_id) DO NOTHING RETURNING {PAYMENT_COLUMNS}",
                [value for row in rows for value in (*row, now, now)],
            )
        return self._by_order(inserted)

    def _payments_of_orders(self, order_ids: list[str]) -> dict[str, SandboxPayment]:
        rows = self.database.query(
            f"SELECT {PAYMENT_COLUMNS} FROM sandbox_payments "  # noqa: S608
            f"WHERE order_id IN ({', '.join(['%s'] * len(order_ids))})",
            order_ids,
        )
        return self._by_order(rows)

    def _by_order(self, rows: list[Row]) -> dict[str, SandboxPayment]:
        """Payment rows as payments, by order id."""
        return {payment.order_id: payment for payment in map(self._payment, rows)}

    def _transition(
        self,
        payment_ref: str,
        allowed_from: set[str],
        unchanged_in: set[str],
        to: PaymentStatus,
    ) -> tuple[SandboxPayment, bool]:
        now = self.clock()
        with self.database.transaction() as cursor:
            payment = self._locked_payment(cursor, payment_ref, lock=True)
            if payment.status in unchanged_in:
                return payment, False
            if payment.status not in allowed_from:
                raise InvalidPaymentStateError(
                    f"payment {payment_ref} is {payment.status}; it cannot become {to}"
                )
            cursor.execute(
                "UPDATE sandbox_payments SET status = %s, updated_at = %s WHERE payment_ref = %s",
                (to, self._time(now), payment_ref),
            )
            changed = replace(payment, status=to, updated_at=now)
            self._enqueue_webhook(cursor, changed, now)
        return changed, True

    def _enqueue_webhook(self, cursor: Cursor, payment: SandboxPayment, now: datetime) -> None:
        delivery_id = new_ref("dlv")
        body = {
            "delivery_id": delivery_id,
            "payment_ref": payment.payment_ref,
            "status": payment.status,
            "amount": str(payment.amount),
            "currency": payment.amount.currency,
            "order_id": payment.order_id,
            "occurred_at": now.isoformat(),
        }
        cursor.execute(
            f"INSERT INTO sandbox_webhook_deliveries ({DELIVERY_COLUMNS}) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, 0, %s, %s, NULL, NULL)",
            (
                delivery_id,
                payment.payment_ref,
                payment.status,
                json.dumps(body, separators=(",", ":")),
                self._time(now),
                self._time(now),
            ),
        )

    def _locked_payment(self, cursor: Cursor, payment_ref: str, *, lock: bool) -> SandboxPayment:
        for_update = " FOR UPDATE" if lock and self.database.dialect == "postgres" else ""
        cursor.execute(
            f"SELECT {PAYMENT_COLUMNS} FROM sandbox_payments "  # noqa: S608
            f"WHERE payment_ref = %s{for_update}",
            (payment_ref,),
        )
        row = cursor.fetchone()
        if row is None:
            raise PaymentNotFoundError(f"no payment {payment_ref}")
        return self._payment(row)

    def _update_delivery(self, assignments: str, params: tuple[Any, ...], delivery_id: str) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                f"UPDATE sandbox_webhook_deliveries SET {assignments} WHERE id = %s",  # noqa: S608
                (*params, delivery_id),
            )

    def _payment(self, row: Row | None) -> SandboxPayment:
        assert row is not None  # the caller just wrote or found it
        ref, order_id, minor, currency, description, email, status, created, updated = row
        return SandboxPayment(
            payment_ref=ref,
            order_id=order_id,
            amount=Money(int(minor), currency),
            description=description,
            email=email,
            status=status,
            created_at=self._read_time(created),
            updated_at=self._read_time(updated),
        )

    def _delivery(self, row: Row) -> WebhookDelivery:
        delivery_id, ref, status, body, attempts, created, next_at, delivered_at, error = row
        return WebhookDelivery(
            id=delivery_id,
            payment_ref=ref,
            status=status,
            body=body.encode(),
            attempts=attempts,
            created_at=self._read_time(created),
            next_attempt_at=self._read_time(next_at),
            delivered_at=None if delivered_at is None else self._read_time(delivered_at),
            last_error=error,
        )

    def _time(self, moment: datetime) -> datetime | str:
        """A time as the dialect stores it: TIMESTAMPTZ, or fixed-width UTC text that sorts."""
        if self.database.dialect == "postgres":
            return moment
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

    @staticmethod
    def _read_time(value: datetime | str) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def amount_conflict(payment: SandboxPayment) -> InvalidPaymentStateError:
    """The error for a second payment of an order, with another amount than its first."""
    return InvalidPaymentStateError(
        f"order {payment.order_id} already has a payment of {payment.amount} "
        f"{payment.amount.currency}"
    )


def new_ref(prefix: str) -> str:
    """An unguessable reference such as sbx_3f9c…, safe to put in a URL."""
    return f"{prefix}_{secrets.token_hex(16)}"
