"""Sales insights: order counts and revenue per event, and totals per admin.

Currency rules (an admin may price events in several currencies):
- an event's `currency` is its first ticket type's; its `revenue` and `sales_per_minute`
  revenue count the orders in that currency, and `revenue_by_currency` lists every currency;
- the totals' `currency` is the one most of the admin's events are priced in (ties: the larger
  revenue, then alphabetical); `revenue` is in that currency; `revenue_by_currency` has them all.
`sales_per_minute` shows the most recent 1,440 minutes that had sales; a refund takes its order
out of the minute it was paid in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.documents import remaining
from projections.state import BUCKETS, State, dumps

SHOWN_MINUTES = 1440


def amount(minor: int) -> str:
    """Minor units as a decimal string with two places."""
    sign = "-" if minor < 0 else ""
    major, cents = divmod(abs(minor), 100)
    return f"{sign}{major}.{cents:02d}"


@dataclass(frozen=True)
class OrderChange:
    """What one order event does to its event's insights."""

    notification_id: int
    event_id: str
    ticket_id: str
    currency: str
    left: str | None  # the bucket the order leaves
    entered: str | None  # the bucket it enters
    quantity: int  # tickets into (+) or out of (-) the sales
    revenue: int  # minor units into (+) or out of (-) the revenue
    minute: str | None  # the minute the order was paid in, when the sales change


def apply_order_change(orders: State, change: OrderChange) -> None:
    """Count one order event into the event's order state."""
    if change.left is not None:
        orders["orders"][change.left] -= 1
    if change.entered is not None:
        orders["orders"][change.entered] += 1
    if change.minute is None:
        return
    revenue = orders["revenue"].setdefault(
        change.ticket_id, {"currency": change.currency, "minor": 0}
    )
    revenue["minor"] += change.revenue
    bucket = orders["minutes"].setdefault(change.minute, {"tickets": 0, "revenue": {}})
    bucket["tickets"] += change.quantity
    by_currency = bucket["revenue"]
    by_currency[change.currency] = by_currency.get(change.currency, 0) + change.revenue
    if bucket["tickets"] == 0 and not any(by_currency.values()):
        del orders["minutes"][change.minute]


def revenue_by_currency(orders: State) -> dict[str, int]:
    totals: dict[str, int] = {}
    for revenue in orders["revenue"].values():
        totals[revenue["currency"]] = totals.get(revenue["currency"], 0) + revenue["minor"]
    return {currency: minor for currency, minor in sorted(totals.items()) if minor}


def render_insights(
    concert: State, tickets: list[State], orders: State
) -> tuple[bytes, dict[str, Any]]:
    """The event's insights document, and what it adds to its admin's totals."""
    by_currency = revenue_by_currency(orders)
    currency = tickets[0]["currency"] if tickets else next(iter(by_currency), None)
    rows = [
        {
            "ticket_id": ticket["id"],
            "category": ticket["category"],
            "total_stock": ticket["total_stock"],
            "sold": ticket["sold"],
            "held": ticket["held"],
            "remaining": remaining(ticket),
            "revenue": amount(orders["revenue"].get(ticket["id"], {}).get("minor", 0)),
        }
        for ticket in tickets
    ]
    minutes = sorted(orders["minutes"].items())[-SHOWN_MINUTES:]
    document = {
        "event_id": concert["id"],
        "tickets": rows,
        "orders": {bucket: orders["orders"][bucket] for bucket in BUCKETS},
        "revenue": amount(by_currency.get(currency, 0) if currency else 0),
        "currency": currency,
        "sales_per_minute": [
            {
                "minute": minute,
                "tickets": bucket["tickets"],
                "revenue": amount(bucket["revenue"].get(currency, 0)),
            }
            for minute, bucket in minutes
        ],
        "revenue_by_currency": {code: amount(minor) for code, minor in by_currency.items()},
    }
    contribution = {
        "currency": currency,
        "tickets_sold": sum(ticket["sold"] for ticket in tickets),
        "orders": dict(document["orders"]),
        "revenue": by_currency,
    }
    return dumps(document), contribution


def empty_counters() -> dict[str, Any]:
    return {"events": {}, "tickets_sold": 0, "orders": dict.fromkeys(BUCKETS, 0), "revenue": {}}


def add_contribution(counters: dict[str, Any], contribution: dict[str, Any], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) one event's part of the totals."""
    currency = contribution["currency"]
    if currency is not None:
        counters["events"][currency] = counters["events"].get(currency, 0) + sign
    counters["tickets_sold"] += sign * contribution["tickets_sold"]
    for bucket in BUCKETS:
        counters["orders"][bucket] += sign * contribution["orders"][bucket]
    for code, minor in contribution["revenue"].items():
        counters["revenue"][code] = counters["revenue"].get(code, 0) + sign * minor
    counters["events"] = {code: n for code, n in sorted(counters["events"].items()) if n}
    counters["revenue"] = {code: m for code, m in sorted(counters["revenue"].items()) if m}


def main_currency(counters: dict[str, Any]) -> str | None:
    """The currency most events are priced in; ties: the larger revenue, then alphabetical."""
    codes = set(counters["events"]) | set(counters["revenue"])
    if not codes:
        return None
    return min(
        codes,
        key=lambda code: (
            -counters["events"].get(code, 0),
            -counters["revenue"].get(code, 0),
            code,
        ),
    )


def render_totals(counters: dict[str, Any]) -> bytes:
    """The `totals` object of GET /admin/insights."""
    currency = main_currency(counters)
    orders = counters["orders"]
    return dumps(
        {
            "tickets_sold": counters["tickets_sold"],
            "revenue": amount(counters["revenue"].get(currency, 0) if currency else 0),
            "currency": currency,
            "orders_paid": orders["paid"],
            "orders_pending": orders["pending"],
            "orders_failed": orders["failed"],
            "orders_expired": orders["expired"],
            "revenue_by_currency": {
                code: amount(minor) for code, minor in counters["revenue"].items()
            },
        }
    )


EMPTY_TOTALS = render_totals(empty_counters())
