"""Admins' commands on their events and ticket types."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from command_api import translate
from command_api.auth import Admin
from command_api.clients import ServiceClients
from command_api.models import (
    AdminEventPublic,
    AdminTicketPublic,
    EventCreate,
    EventUpdate,
    StatusChange,
    TicketCreate,
    TicketUpdate,
)
from domain.money import Money
from protos.ticketing.v1 import common_pb2, tickets_pb2
from services.common.protobuf import timestamp

router = APIRouter(tags=["admin"])


def money(amount: str, currency: str) -> common_pb2.Money:
    price = Money.parse(amount, currency)
    return common_pb2.Money(minor_units=price.minor, currency=price.currency)


@router.post("/admin/events", status_code=201, response_model=AdminEventPublic)
async def create_event(body: EventCreate, caller: Admin, services: ServiceClients):
    """Create an event; it stays inactive until activated."""
    concert = await services.tickets.CreateConcert(
        tickets_pb2.CreateConcertRequest(
            title=body.title, description=body.description, location=body.location,
            date_time=timestamp(body.date_time),
        ),
        **services.as_caller(caller),
    )  # fmt: skip
    return translate.admin_event(concert)


@router.patch("/admin/events/{event_id}", response_model=AdminEventPublic)
async def update_event(event_id: UUID, body: EventUpdate, caller: Admin, services: ServiceClients):
    """Change an event's title, description, location or date_time."""
    request = tickets_pb2.UpdateConcertRequest(concert_id=str(event_id))
    for name in ("title", "description", "location"):
        if getattr(body, name) is not None:
            setattr(request, name, getattr(body, name))
    if body.date_time is not None:
        request.date_time.CopyFrom(timestamp(body.date_time))
    concert = await services.tickets.UpdateConcert(request, **services.as_caller(caller))
    return translate.admin_event(concert)


@router.post("/admin/events/{event_id}/status", response_model=AdminEventPublic)
async def change_status(
    event_id: UUID, body: StatusChange, caller: Admin, services: ServiceClients
):
    """Activate, deactivate or cancel (cancelled is final)."""
    concert = await services.tickets.ChangeConcertStatus(
        tickets_pb2.ChangeConcertStatusRequest(
            concert_id=str(event_id), status=translate.STATUS_TO_CONCERT[body.status]
        ),
        **services.as_caller(caller),
    )
    return translate.admin_event(concert)


@router.delete("/admin/events/{event_id}", status_code=204)
async def delete_event(event_id: UUID, caller: Admin, services: ServiceClients) -> Response:
    """Delete an event that never sold or held a ticket (cancel it otherwise)."""
    await services.tickets.DeleteConcert(
        tickets_pb2.DeleteConcertRequest(concert_id=str(event_id)), **services.as_caller(caller)
    )
    return Response(status_code=204)


@router.post("/admin/events/{event_id}/tickets", status_code=201, response_model=AdminTicketPublic)
async def add_ticket(event_id: UUID, body: TicketCreate, caller: Admin, services: ServiceClients):
    """Add a ticket type to an event."""
    ticket = await services.tickets.AddTicketType(
        tickets_pb2.AddTicketTypeRequest(
            concert_id=str(event_id), category=body.category,
            price=money(body.price, body.currency), total_stock=body.total_stock,
            sales_start=timestamp(body.sales_start), sales_end=timestamp(body.sales_end),
        ),
        **services.as_caller(caller),
    )  # fmt: skip
    return translate.admin_ticket(ticket)


@router.patch("/admin/tickets/{ticket_id}", response_model=AdminTicketPublic)
async def update_ticket(
    ticket_id: UUID, body: TicketUpdate, caller: Admin, services: ServiceClients
):
    """Change price, stock or sales window; stock never drops below sold + held."""
    request = tickets_pb2.UpdateTicketTypeRequest(ticket_type_id=str(ticket_id))
    if body.price is not None:
        current = await services.tickets.GetTicketType(
            tickets_pb2.GetTicketTypeRequest(ticket_type_id=str(ticket_id)),
            **services.as_caller(caller),
        )
        request.price.CopyFrom(money(body.price, current.price.currency))
    if body.total_stock is not None:
        request.total_stock = body.total_stock
    if body.sales_start is not None:
        request.sales_start.CopyFrom(timestamp(body.sales_start))
    if body.sales_end is not None:
        request.sales_end.CopyFrom(timestamp(body.sales_end))
    ticket = await services.tickets.UpdateTicketType(request, **services.as_caller(caller))
    return translate.admin_ticket(ticket)
