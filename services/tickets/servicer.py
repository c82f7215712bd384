"""The tickets service's gRPC edge: protobuf in, one application call, protobuf out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import grpc

from domain.concert import Concert, ConcertStatus
from domain.errors import NotFoundError
from domain.ticket_type import TicketType
from protos.ticketing.v1 import tickets_pb2, tickets_pb2_grpc
from services.common.errors import BadRequestError, status_for
from services.common.identity import Identity, require_identity
from services.common.protobuf import money, parse_money, parse_time, parse_uuid, timestamp
from services.tickets.application import Tickets
from services.tickets.writer import TicketTypeView, TicketTypeWriters

ADMINS = ("admin", "superadmin")
READERS = ("admin", "superadmin", "auditor", "service", "customer")
INVENTORY = ("service",)
MAX_RESERVE_BATCH = 1000

STATUS_TO_PROTO = {
    ConcertStatus.ACTIVE: tickets_pb2.CONCERT_STATUS_ACTIVE,
    ConcertStatus.INACTIVE: tickets_pb2.CONCERT_STATUS_INACTIVE,
    ConcertStatus.CANCELLED: tickets_pb2.CONCERT_STATUS_CANCELLED,
}
STATUS_FROM_PROTO = {value: key for key, value in STATUS_TO_PROTO.items()}


def ticket_type_message(view: TicketTypeView, now: datetime) -> tickets_pb2.TicketType:
    """A ticket type's state as its protobuf message."""
    return tickets_pb2.TicketType(
        id=str(view.id),
        event_id=str(view.event_id),
        category=view.category,
        price=money(view.price),
        total_stock=view.total_stock,
        sold=view.sold,
        held=view.held,
        remaining=view.remaining,
        sales_start=timestamp(view.sales_start),
        sales_end=timestamp(view.sales_end),
        on_sale=view.is_on_sale(now),
        concert_active=view.concert_active,
        version=view.version,
    )


class TicketsServicer(tickets_pb2_grpc.TicketsServiceServicer):
    """Concert and ticket-type commands (admins) and inventory commands (the payments service)."""

    def __init__(self, tickets: Tickets, writers: TicketTypeWriters) -> None:
        self.tickets = tickets
        self.writers = writers

    # -- concerts -------------------------------------------------------------------------------

    async def CreateConcert(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(ADMINS)
        concert_id = await asyncio.to_thread(
            self.tickets.create_concert,
            request.title,
            request.description,
            request.location,
            parse_time("date_time", request.date_time),
            caller.subject,
        )
        return await self._concert_message(concert_id)

    async def UpdateConcert(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(ADMINS)
        concert_id = await self._owned_concert(caller, request.concert_id)
        changes: dict[str, object] = {
            name: getattr(request, name)
            for name in ("title", "description", "location")
            if request.HasField(name)
        }
        if request.HasField("date_time"):
            changes["date_time"] = parse_time("date_time", request.date_time)
        await asyncio.to_thread(self.tickets.update_concert, concert_id, caller.subject, **changes)
        return await self._concert_message(concert_id)

    async def ChangeConcertStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(ADMINS)
        concert_id = await self._owned_concert(caller, request.concert_id)
        status = STATUS_FROM_PROTO.get(request.status)
        if status is None:
            raise BadRequestError("status must be active, inactive or cancelled")
        await asyncio.to_thread(
            self.tickets.change_concert_status, concert_id, status, caller.subject
        )
        return await self._concert_message(concert_id)

    async def DeleteConcert(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(ADMINS)
        concert_id = await self._owned_concert(caller, request.concert_id)
        await asyncio.to_thread(self.tickets.delete_concert, concert_id, caller.subject)
        return tickets_pb2.DeleteConcertResponse()

    async def GetConcert(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(READERS)
        concert_id = parse_uuid("concert_id", request.concert_id)
        concert = await asyncio.to_thread(self.tickets.get_concert, concert_id)
        check_visible(caller, concert)
        return await self._concert_message(concert_id)

    # -- ticket types ---------------------------------------------------------------------------

    async def AddTicketType(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(ADMINS)
        concert_id = await self._owned_concert(caller, request.concert_id)
        if not request.HasField("price"):
            raise BadRequestError("price is required")
        ticket_type_id = await asyncio.to_thread(
            self.tickets.add_ticket_type,
            concert_id,
            request.category,
            parse_money(request.price),
            request.total_stock,
            parse_time("sales_start", request.sales_start),
            parse_time("sales_end", request.sales_end),
            caller.subject,
        )
        ticket_type = await asyncio.to_thread(self.tickets.get_ticket_type, ticket_type_id)
        return ticket_type_message(TicketTypeView.of(ticket_type), self.tickets.clock())

    async def UpdateTicketType(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(ADMINS)
        ticket_type_id = parse_uuid("ticket_type_id", request.ticket_type_id)
        ticket_type = await asyncio.to_thread(self.tickets.get_ticket_type, ticket_type_id)
        await self._owned_concert(caller, str(ticket_type.event_id))
        price = parse_money(request.price) if request.HasField("price") else None
        total_stock = request.total_stock if request.HasField("total_stock") else None
        start = (
            parse_time("sales_start", request.sales_start)
            if request.HasField("sales_start")
            else None
        )
        end = parse_time("sales_end", request.sales_end) if request.HasField("sales_end") else None

        def decide(ticket_type: TicketType) -> None:
            ticket_type.update(caller.subject, price, total_stock, start, end)

        return await self._inventory(ticket_type_id, decide)

    async def GetTicketType(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = require_identity(READERS)
        ticket_type_id = parse_uuid("ticket_type_id", request.ticket_type_id)
        if caller.role == "service":
            # The saga asks for every order: while the ticket type sells, its writer knows.
            view = self.writers.recent_view(ticket_type_id)
            if view is not None:
                return ticket_type_message(view, self.tickets.clock())
        ticket_type = await asyncio.to_thread(self.tickets.get_ticket_type, ticket_type_id)
        if caller.role in ("admin", "customer"):
            concert = await asyncio.to_thread(self.tickets.get_concert, ticket_type.event_id)
            check_visible(caller, concert)
        return ticket_type_message(TicketTypeView.of(ticket_type), self.tickets.clock())

    # -- inventory ------------------------------------------------------------------------------

    async def Reserve(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(INVENTORY)
        ticket_type_id = parse_uuid("ticket_type_id", request.ticket_type_id)
        order_id = str(parse_uuid("order_id", request.order_id))
        expires_at = parse_time("expires_at", request.expires_at)
        if expires_at <= self.tickets.clock():
            raise BadRequestError("expires_at must be in the future")
        quantity = request.quantity
        return await self._inventory(
            ticket_type_id,
            lambda t: t.reserve(order_id, quantity, expires_at, self.tickets.clock()),
        )

    async def ReserveBatch(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Each hold decided as Reserve would, in order, the new ones recorded as one event.

        The batch joins the ticket type's next group commit as one command
        (`TicketType.reserve_many`): one HoldsReserved event for its new holds, instead of a
        Reserved event (and a queued command) per hold. Each hold's answer is its own: its
        expiry, or why it was refused.
        """
        require_identity(INVENTORY)
        ticket_type_id = parse_uuid("ticket_type_id", request.ticket_type_id)
        if not 1 <= len(request.holds) <= MAX_RESERVE_BATCH:
            raise BadRequestError(f"a batch holds 1 to {MAX_RESERVE_BATCH} reservations")
        now = self.tickets.clock()
        outcomes: list[Any] = [None] * len(request.holds)
        asked: list[tuple[int, str, int, datetime]] = []  # (position, order id, quantity, expiry)
        for position, item in enumerate(request.holds):
            try:
                order_id, expires_at = parse_hold(item, now)
            except BadRequestError as bad:
                outcomes[position] = refused_hold(item.order_id, bad)
                continue
            asked.append((position, order_id, item.quantity, expires_at))
        if not asked:
            return tickets_pb2.ReserveBatchResponse(outcomes=outcomes)
        decided: list[datetime | Exception] = []

        def reserve_all(ticket_type: TicketType) -> None:
            refusals = ticket_type.reserve_many(
                [(order_id, quantity, expires_at) for _, order_id, quantity, expires_at in asked],
                self.tickets.clock(),
            )
            decided[:] = [
                refusal if refusal is not None else held_until(ticket_type, order_id, expires_at)
                for refusal, (_, order_id, _, expires_at) in zip(refusals, asked, strict=True)
            ]

        try:
            await self.writers.submit(ticket_type_id, reserve_all)
        except Exception as error:
            if status_for(error) is None:
                raise  # unexpected: the whole call fails (INTERNAL), as Reserve would
            decided[:] = [error] * len(asked)  # e.g. no such ticket type: each hold is refused
        for (position, *_), outcome in zip(asked, decided, strict=True):
            item_id = request.holds[position].order_id
            outcomes[position] = (
                refused_hold(item_id, outcome)
                if isinstance(outcome, Exception)
                else tickets_pb2.ReserveOutcome(order_id=item_id, expires_at=timestamp(outcome))
            )
        return tickets_pb2.ReserveBatchResponse(outcomes=outcomes)

    async def Confirm(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._hold_command(request, lambda t, order: t.confirm(order))

    async def Release(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._hold_command(request, lambda t, order: t.release(order))

    async def Expire(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._hold_command(
            request, lambda t, order: t.expire(order, self.tickets.clock())
        )

    async def Refund(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._hold_command(request, lambda t, order: t.refund(order))

    # -- helpers --------------------------------------------------------------------------------

    async def _hold_command(self, request: Any, decide: Callable[[TicketType, str], None]) -> Any:
        require_identity(INVENTORY)
        ticket_type_id = parse_uuid("ticket_type_id", request.ticket_type_id)
        order_id = str(parse_uuid("order_id", request.order_id))
        return await self._inventory(ticket_type_id, lambda t: decide(t, order_id))

    async def _inventory(
        self, ticket_type_id: UUID, decide: Callable[[TicketType], None]
    ) -> tickets_pb2.TicketType:
        view = await self.writers.submit(ticket_type_id, decide)
        return ticket_type_message(view, self.tickets.clock())

    async def _owned_concert(self, caller: Identity, concert_id: str) -> UUID:
        """The concert's id if the caller may manage it; an admin's foreign concert is not found."""
        concert = await asyncio.to_thread(
            self.tickets.get_concert, parse_uuid("concert_id", concert_id)
        )
        if not caller.is_superadmin and concert.created_by != caller.subject:
            raise NotFoundError(f"Concert {concert.id} not found")
        return concert.id

    async def _concert_message(self, concert_id: UUID) -> tickets_pb2.Concert:
        def load() -> tuple[Concert, list[TicketType]]:
            concert = self.tickets.get_concert(concert_id)
            return concert, self.tickets.ticket_types_of(concert)

        concert, ticket_types = await asyncio.to_thread(load)
        now = self.tickets.clock()
        return tickets_pb2.Concert(
            id=str(concert.id),
            title=concert.title,
            description=concert.description,
            location=concert.location,
            date_time=timestamp(concert.date_time),
            status=STATUS_TO_PROTO[concert.status],
            created_by=concert.created_by,
            ticket_types=[ticket_type_message(TicketTypeView.of(t), now) for t in ticket_types],
            version=concert.version,
        )


def check_visible(caller: Identity, concert: Concert) -> None:
    """Admins see their own concerts, customers the published ones; others see all."""
    if caller.role == "admin" and concert.created_by != caller.subject:
        raise NotFoundError(f"Concert {concert.id} not found")
    if caller.role == "customer" and concert.status is ConcertStatus.INACTIVE:
        raise NotFoundError(f"Concert {concert.id} not found")


def parse_hold(item: Any, now: datetime) -> tuple[str, datetime]:
    """A ReserveBatch item's order id and expiry (BadRequestError if malformed or past)."""
    order_id = str(parse_uuid("order_id", item.order_id))
    expires_at = parse_time("expires_at", item.expires_at)
    if expires_at <= now:
        raise BadRequestError("expires_at must be in the future")
    return order_id, expires_at


def held_until(ticket_type: TicketType, order_id: str, asked: datetime) -> datetime:
    """The order's hold's expiry: the one it holds (a repeat answers the existing hold's), or
    what it asked for if it already bought the tickets."""
    hold = ticket_type.holds.get(order_id)
    return asked if hold is None else hold.expires_at


def refused_hold(order_id: str, error: Exception) -> tickets_pb2.ReserveOutcome:
    """A hold's refusal, with the reason its status carries (as Reserve would answer)."""
    refused = status_for(error)
    assert refused is not None, error
    return tickets_pb2.ReserveOutcome(order_id=order_id, reason=refused.reason, message=str(error))
