"""The read side's state of concerts and ticket types: plain JSON taken from the aggregates."""

from __future__ import annotations

from typing import Any

import orjson

from domain.concert import Concert
from domain.order import OrderStatus
from domain.ticket_type import TicketType

State = dict[str, Any]

# Which insights bucket an order status counts in; rejected and refunded orders count in none.
ORDER_BUCKETS: dict[OrderStatus, str] = {
    OrderStatus.PLACED: "pending",
    OrderStatus.PENDING: "pending",
    OrderStatus.PAID: "paid",
    OrderStatus.FAILED: "failed",
    OrderStatus.EXPIRED: "expired",
}
BUCKETS = ("paid", "pending", "failed", "expired")


def concert_state(concert: Concert) -> State:
    """What the documents need of a concert."""
    return {
        "id": str(concert.id),
        "title": concert.title,
        "description": concert.description,
        "location": concert.location,
        "date_time": concert.date_time.isoformat(),
        "status": concert.status.value,
        "created_by": concert.created_by,
        "ticket_ids": [str(ticket_id) for ticket_id in concert.ticket_type_ids],
        "deleted": concert.deleted,
    }


def ticket_state(ticket_type: TicketType) -> State:
    """What the documents need of a ticket type (its inventory without the holds)."""
    return {
        "id": str(ticket_type.id),
        "event_id": str(ticket_type.event_id),
        "category": ticket_type.category,
        "price": ticket_type.price.minor,
        "currency": ticket_type.price.currency,
        "total_stock": ticket_type.total_stock,
        "sold": ticket_type.sold,
        "held": ticket_type.held,
        "sales_start": ticket_type.sales_start.isoformat(),
        "sales_end": ticket_type.sales_end.isoformat(),
        "concert_active": ticket_type.concert_active,
        "deleted": ticket_type.deleted,
    }


def empty_orders_state() -> State:
    """No orders yet: counts per bucket, revenue per ticket type, sales per minute."""
    return {"orders": dict.fromkeys(BUCKETS, 0), "revenue": {}, "minutes": {}}


def dumps(value: Any) -> bytes:
    """Compact JSON, keys in insertion order: the same state always gives the same bytes."""
    return orjson.dumps(value)


def loads(raw: bytes | None) -> Any:
    """JSON from Redis, or None for a missing key."""
    return None if raw is None else orjson.loads(raw)
