"""Auditors' reading of the history: streams, the global log, state as of a moment, verification.

These routes read the event stores themselves (through services/audit), not the services'
gRPC APIs: an audit must look at what was recorded, not at what a service says about it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel

from command_api.auth import Auditor
from domain.errors import NotFoundError
from services.audit.service import Audit
from services.common.http_problems import ProblemError

router = APIRouter(tags=["audit"])


class StreamEvent(BaseModel):
    version: int
    type: str
    timestamp: datetime
    actor: str | None
    data: dict[str, Any]


class Stream(BaseModel):
    aggregate_id: str
    aggregate_type: str
    service: str
    events: list[StreamEvent]


class LogItem(BaseModel):
    position: int
    service: str
    aggregate_id: str
    aggregate_type: str
    version: int
    type: str
    timestamp: datetime
    actor: str | None
    data: dict[str, Any]


class LogPage(BaseModel):
    items: list[LogItem]
    next_after: int | None


class TicketAsOf(BaseModel):
    ticket_id: str
    category: str
    total_stock: int
    sold: int
    held: int
    remaining: int
    deleted: bool
    version: int


class StateAsOf(BaseModel):
    as_of: datetime
    event: dict[str, Any]
    tickets: list[TicketAsOf]


class ViolationOut(BaseModel):
    check: str
    detail: str
    aggregate_id: str | None
    version: int | None
    key: str | None


class VerifyReport(BaseModel):
    ok: bool
    checked_events: int
    violations: list[ViolationOut]
    streams: int
    read_models: str
    positions: dict[str, int]
    seconds: float


async def audit_of(request: Request) -> Audit:
    """The gateway's Audit, opened on first use (most gateways never serve an auditor)."""
    state = request.app.state
    async with state.audit_opening:
        if getattr(state, "audit", None) is None:
            state.audit = await asyncio.to_thread(Audit.open, state.settings, state.redis)
    audit: Audit = state.audit
    return audit


def not_found(error: NotFoundError) -> ProblemError:
    return ProblemError(404, str(error), kind="not_found")


@router.get("/audit/streams/{aggregate_id}", response_model=Stream)
async def stream(aggregate_id: UUID, request: Request, _caller: Auditor) -> dict[str, Any]:
    """Every event of one aggregate (a concert, ticket type or order), in version order."""
    try:
        return await (await audit_of(request)).stream(aggregate_id)
    except NotFoundError as error:
        raise not_found(error) from error


@router.get("/audit/log", response_model=LogPage)
async def log(
    request: Request,
    _caller: Auditor,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The events of every service in one order of positions; page on with `after=next_after`."""
    page = await (await audit_of(request)).log(after, limit)
    return {
        "items": [event.as_log_item(position) for position, event in page.items],
        "next_after": page.next_after,
    }


@router.get("/audit/events/{event_id}/state", response_model=StateAsOf)
async def state(
    event_id: UUID,
    request: Request,
    _caller: Auditor,
    as_of: Annotated[AwareDatetime | None, Query()] = None,
) -> dict[str, Any]:
    """An event (concert) and its ticket types replayed from history as of a moment (now)."""
    try:
        return await (await audit_of(request)).state(event_id, as_of)
    except NotFoundError as error:
        raise not_found(error) from error


@router.post("/audit/verify", response_model=VerifyReport)
async def verify(request: Request, _caller: Auditor) -> dict[str, Any]:
    """Replay every stream and check the invariants and the read models."""
    report = await (await audit_of(request)).verify()
    return report.as_dict()
