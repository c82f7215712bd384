"""Admin reads: the caller's events and the sales insights, from the read models.

An admin sees only the events they created (another admin's event is 404); a superadmin sees
every event; insights are open to auditors too, who see all of them.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis

from command_api.auth import Admin, InsightsReader
from projections.keys import ALL_SCOPE, Keyspace, owner_scope
from query_api.http import PRIVATE_CACHE, lex_range, stored_json
from query_api.read_models import DocumentKind, ReadModels
from query_api.schemas import EventAdmin, EventAdminPage, EventInsights, InsightsOverview
from query_api.stream import insights_events, may_see
from services.common.http_problems import ProblemError
from services.common.identity import Identity

HEARTBEAT_SECONDS = 15.0


def scope_of(identity: Identity) -> str:
    """Whose events the caller reads: their own (admin) or everyone's."""
    return owner_scope(identity.subject) if identity.role == "admin" else ALL_SCOPE


def admin_read_router(
    redis: Redis, *, namespace: str = "ticketing", heartbeat_seconds: float = HEARTBEAT_SECONDS
) -> APIRouter:
    """The admin read routes over the read models in redis."""
    read_models = ReadModels(redis, Keyspace(namespace))
    router = APIRouter(prefix="/admin", tags=["admin"])

    async def owned_document(
        request: Request, identity: Identity, kind: DocumentKind, event_id: UUID
    ) -> Response:
        document = await read_models.document(kind, str(event_id))
        if document is None or not may_see(identity, document.owner):
            raise ProblemError(404, f"event {event_id} not found")
        return stored_json(request, document.body, PRIVATE_CACHE, document.etag)

    @router.get("/events", response_model=None, responses={200: {"model": EventAdminPage}})
    async def list_admin_events(
        request: Request,
        identity: Admin,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Response:
        """The caller's events (everyone's, for a superadmin) in any status, by date_time."""
        start, end = lex_range(cursor, None, None)
        scope = scope_of(identity)
        page = await read_models.page(
            lambda g: g.owned(scope), "admin", start=start, end=end, limit=limit
        )
        return stored_json(request, page.body(), PRIVATE_CACHE)

    @router.get("/events/{event_id}", response_model=None, responses={200: {"model": EventAdmin}})
    async def get_admin_event(request: Request, identity: Admin, event_id: UUID) -> Response:
        """The event with its tickets and their sold and held counts."""
        return await owned_document(request, identity, "admin", event_id)

    @router.get("/insights", response_model=None, responses={200: {"model": InsightsOverview}})
    async def get_insights(request: Request, identity: InsightsReader) -> Response:
        """Insights of each of the caller's events and their totals."""
        body = await read_models.insights_overview(scope_of(identity))
        return stored_json(request, body, PRIVATE_CACHE)

    @router.get(
        "/events/{event_id}/insights",
        response_model=None,
        responses={200: {"model": EventInsights}},
    )
    async def get_event_insights(
        request: Request, identity: InsightsReader, event_id: UUID
    ) -> Response:
        """Sales, holds, orders and revenue of one event."""
        return await owned_document(request, identity, "insights", event_id)

    @router.get(
        "/insights/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream_insights(identity: InsightsReader) -> StreamingResponse:
        """`insights` events with an event's insights whenever they change."""
        events = await insights_events(redis, read_models, identity, heartbeat_seconds)
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
