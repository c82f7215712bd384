"""Browsing: GET /events, /events/{id}, /events/{id}/tickets, straight from the read models.

`?status=` other than `active` needs an admin's token (403 otherwise, and 401 for a bad token);
an admin then sees only their own events of that status, a superadmin everyone's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from redis.asyncio import Redis

from projections.keys import Keyspace
from query_api.http import (
    PRIVATE_CACHE,
    PUBLIC_CACHE,
    lex_range,
    optional_identity,
    parse_moment,
    stored_json,
)
from query_api.read_models import DocumentKind, ReadModels
from query_api.schemas import EventPage, EventPublic, TicketList
from services.common.http_problems import ProblemError
from services.common.identity import Identity

ADMIN_ROLES = ("admin", "superadmin")
Status = Literal["active", "inactive", "cancelled"]


def public_router(redis: Redis, *, namespace: str = "ticketing") -> APIRouter:
    """The public read routes over the read models in redis."""
    read_models = ReadModels(redis, Keyspace(namespace))
    router = APIRouter(prefix="/events", tags=["events"])

    @router.get("", response_model=None, responses={200: {"model": EventPage}})
    async def list_events(
        request: Request,
        identity: Annotated[Identity | None, Depends(optional_identity)],
        q: Annotated[str | None, Query(max_length=200)] = None,
        from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
        to: Annotated[str | None, Query(max_length=64)] = None,
        status: Status = "active",
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Response:
        """Events by date_time; `q` searches title and location, `from`/`to` bound the date."""
        after = parse_moment("from", from_, end_of_day=False)
        before = parse_moment("to", to, end_of_day=True)
        start, end = lex_range(cursor, after, before)
        owner = None
        if status != "active":
            if identity is None or identity.role not in ADMIN_ROLES:
                raise ProblemError(403, f"only admins may list {status} events")
            owner = identity.subject if identity.role == "admin" else None
        needle = (q or "").strip().casefold()
        page = await read_models.page(
            lambda g: g.listing(status),
            "summary",
            start=start,
            end=end,
            limit=limit,
            keep=listing_filter(needle, owner),
        )
        cache = PUBLIC_CACHE if status == "active" else PRIVATE_CACHE
        return stored_json(request, page.body(), cache)

    async def public_document(request: Request, kind: DocumentKind, event_id: UUID) -> Response:
        document = await read_models.document(kind, str(event_id))
        if document is None:
            raise ProblemError(404, f"event {event_id} not found")
        return stored_json(request, document.body, PUBLIC_CACHE, document.etag)

    @router.get("/{event_id}", response_model=None, responses={200: {"model": EventPublic}})
    async def get_event(request: Request, event_id: UUID) -> Response:
        """An active or cancelled event with its tickets."""
        return await public_document(request, "event", event_id)

    @router.get("/{event_id}/tickets", response_model=None, responses={200: {"model": TicketList}})
    async def get_event_tickets(request: Request, event_id: UUID) -> Response:
        """The tickets of an active or cancelled event."""
        return await public_document(request, "tickets", event_id)

    return router


def listing_filter(needle: str, owner: str | None) -> Any:
    """A filter on an event's listing facts, or None when nothing is filtered."""
    if not needle and owner is None:
        return None

    def keep(facts: dict[str, Any]) -> bool:
        return (not needle or needle in facts["text"]) and (
            owner is None or facts["owner"] == owner
        )

    return keep
