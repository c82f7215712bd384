"""The browsing documents of one concert, rendered from read-side state at a given moment.

Only `on_sale` (and the summary's `available`) depend on the moment: the windows index records
the next moment a sales window opens or closes so the runner re-renders just then.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.money import Money
from projections.keys import PUBLIC_STATUSES
from projections.state import State, dumps


def etag_of(body: bytes) -> str:
    """A strong ETag for a document's bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def money(minor: int, currency: str) -> str:
    """An amount as a decimal string with two places."""
    return str(Money(minor, currency))


def remaining(ticket: State) -> int:
    return int(ticket["total_stock"] - ticket["sold"] - ticket["held"])


def on_sale(ticket: State, now: datetime) -> bool:
    """As TicketType.is_on_sale: active concert, inside the window, something left."""
    start = datetime.fromisoformat(ticket["sales_start"])
    end = datetime.fromisoformat(ticket["sales_end"])
    return (
        not ticket["deleted"]
        and ticket["concert_active"]
        and start <= now < end
        and remaining(ticket) > 0
    )


def public_ticket(ticket: State, now: datetime) -> dict[str, Any]:
    """A ticket as API.md shows it to everyone."""
    return {
        "id": ticket["id"],
        "event_id": ticket["event_id"],
        "category": ticket["category"],
        "price": money(ticket["price"], ticket["currency"]),
        "currency": ticket["currency"],
        "total_stock": ticket["total_stock"],
        "remaining": remaining(ticket),
        "sales_start": ticket["sales_start"],
        "sales_end": ticket["sales_end"],
        "on_sale": on_sale(ticket, now),
    }


def event_fields(concert: State) -> dict[str, Any]:
    return {
        "id": concert["id"],
        "title": concert["title"],
        "description": concert["description"],
        "location": concert["location"],
        "date_time": concert["date_time"],
        "status": concert["status"],
    }


def is_public(concert: State) -> bool:
    """Active and cancelled events are browsable; inactive and deleted ones are not."""
    return not concert["deleted"] and concert["status"] in PUBLIC_STATUSES


def next_boundary(tickets: list[State], now: datetime) -> datetime | None:
    """The next moment after now that a sales window of these tickets opens or closes."""
    moments = [
        moment
        for ticket in tickets
        for moment in (
            datetime.fromisoformat(ticket["sales_start"]),
            datetime.fromisoformat(ticket["sales_end"]),
        )
        if moment > now
    ]
    return min(moments, default=None)


def cheapest(tickets: list[State]) -> State | None:
    """The cheapest ticket among those in the first ticket's currency (mixed currencies: rare)."""
    if not tickets:
        return None
    currency = tickets[0]["currency"]
    return min((t for t in tickets if t["currency"] == currency), key=lambda t: t["price"])


@dataclass(frozen=True)
class ConcertDocuments:
    """Everything browsing needs of one live (not deleted) concert."""

    event: bytes | None  # GET /events/{id}; None when not public
    tickets: bytes | None  # GET /events/{id}/tickets; None when not public
    admin: bytes  # GET /admin/events/{id}
    summary: bytes  # one item of GET /events and of the admin listings
    facts: bytes  # what the listing filters look at
    boundary: datetime | None


def render_concert(concert: State, tickets: list[State], now: datetime) -> ConcertDocuments:
    """The documents of a live concert whose live ticket types are `tickets`, in order."""
    shown = [public_ticket(ticket, now) for ticket in tickets]
    public = is_public(concert)
    admin_tickets = [
        view | {"sold": ticket["sold"], "held": ticket["held"]}
        for view, ticket in zip(shown, tickets, strict=True)
    ]
    admin = event_fields(concert) | {"created_by": concert["created_by"], "tickets": admin_tickets}
    low = cheapest(tickets)
    summary = {
        "id": concert["id"],
        "title": concert["title"],
        "location": concert["location"],
        "date_time": concert["date_time"],
        "status": concert["status"],
        "min_price": money(low["price"], low["currency"]) if low else None,
        "currency": low["currency"] if low else None,
        "available": any(view["on_sale"] for view in shown),
    }
    text = f"{concert['title']}\n{concert['location']}".casefold()
    return ConcertDocuments(
        event=dumps(event_fields(concert) | {"tickets": shown}) if public else None,
        tickets=dumps({"items": shown}) if public else None,
        admin=dumps(admin),
        summary=dumps(summary),
        facts=dumps({"owner": concert["created_by"], "text": text}),
        boundary=next_boundary(tickets, now),
    )
