"""History: one aggregate's events, and a concert with its ticket types as of any moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from domain.concert import Concert
from domain.errors import NotFoundError
from domain.ticket_type import TicketType
from projections.documents import render_concert
from projections.state import concert_state, loads, ticket_state
from services.audit.sources import EventSources


def version_at(app: Application[UUID], aggregate_id: UUID, moment: datetime) -> int:
    """The aggregate's last version recorded at or before moment (0: it did not exist yet).

    An aggregate's events are timestamped in the order of its versions, so a binary search
    over versions reads about log2(versions) events, however long the stream.
    """
    last = next(app.repository.event_store.get(aggregate_id, desc=True, limit=1), None)
    if last is None:
        raise NotFoundError(f"nothing was ever recorded for {aggregate_id}")
    low, high = 0, last.originator_version
    while low < high:
        middle = (low + high + 1) // 2
        event = next(app.repository.event_store.get(aggregate_id, gt=middle - 1, lte=middle))
        if event.timestamp <= moment:
            low = middle
        else:
            high = middle - 1
    return low


def replay_to(app: Application[UUID], aggregate_id: UUID, moment: datetime) -> Aggregate | None:
    """The aggregate as it was at moment (from the nearest snapshot), or None before it existed."""
    version = version_at(app, aggregate_id, moment)
    if version == 0:
        return None
    aggregate: Aggregate = app.repository.get(aggregate_id, version=version)
    return aggregate


def state_as_of(sources: EventSources, event_id: UUID, moment: datetime) -> dict[str, Any]:
    """GET /audit/events/{id}/state: the concert and its ticket types replayed to moment."""
    concert = replay_to(sources.tickets, event_id, moment)
    if not isinstance(concert, Concert):
        raise NotFoundError(f"event {event_id} did not exist at {moment.isoformat()}")
    ticket_types = [
        ticket_type
        for ticket_id in concert.ticket_type_ids
        if isinstance(ticket_type := replay_to(sources.tickets, ticket_id, moment), TicketType)
    ]
    live = [t for t in ticket_types if not t.deleted]
    documents = render_concert(concert_state(concert), [ticket_state(t) for t in live], moment)
    event = loads(documents.admin) | {"deleted": concert.deleted, "version": concert.version}
    return {
        "as_of": moment.isoformat(),
        "event": event,
        "tickets": [
            {
                "ticket_id": str(t.id),
                "category": t.category,
                "total_stock": t.total_stock,
                "sold": t.sold,
                "held": t.held,
                "remaining": t.remaining,
                "deleted": t.deleted,
                "version": t.version,
            }
            for t in ticket_types
        ],
    }
