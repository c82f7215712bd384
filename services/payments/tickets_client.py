"""The payments service's client of the tickets service: domain errors in, protobuf hidden."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

import grpc

from domain import errors
from domain.money import Money
from protos.ticketing.v1 import tickets_pb2
from services.common.errors import REASON_KEY, ServiceError
from services.common.group_commit import BatchQueue
from services.common.identity import Identity, identity_metadata
from services.common.logs import request_id_metadata
from services.common.protobuf import parse_money, parse_time, timestamp

CALL_TIMEOUT_SECONDS = 5.0
# How long a ticket type's price and concert, as read for one order, serve the next orders.
# In a rush every order asked the tickets service the same question: one call per ticket
# type per interval now answers them all. The hold itself is always decided by the tickets
# service on its current state; only the unit price an order records can be this much older
# than an admin's price change (as if the buyer had clicked that much earlier).
TICKET_TYPE_CACHE_SECONDS = 1.0
MAX_CACHED_TICKET_TYPES = 10_000
MAX_HOLDS_PER_CALL = 500  # the tickets service takes up to 1,000
PAYMENTS = Identity("payments", "service", "payments")

# The tickets service's refusals, read back as the domain errors they came from.
REASONS: dict[str, type[errors.TicketingError]] = {
    "sold_out": errors.SoldOutError,
    "not_on_sale": errors.NotOnSaleError,
    "no_such_hold": errors.NoSuchHoldError,
    "hold_ended": errors.HoldEndedError,
    "hold_not_expired": errors.HoldNotExpiredError,
    "not_found": errors.NotFoundError,
    "invalid_argument": errors.InvalidValueError,
    "idempotency_key_reused": errors.IdempotencyKeyReusedError,
}


class TicketsUnavailableError(ServiceError):
    """The tickets service did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, "tickets_unavailable", message)


@dataclass(frozen=True)
class _QueuedHold:
    order_id: str
    quantity: int
    expires_at: datetime


def _outcome(outcome: Any, asked: datetime) -> Exception | datetime:
    """One ReserveOutcome: the hold's expiry when held, else the refusal as a domain error."""
    if not outcome.reason:
        if outcome.HasField("expires_at"):
            return parse_time("expires_at", outcome.expires_at)
        return asked  # a tickets service from before the field: the hold asked for
    kind = REASONS.get(outcome.reason)
    if kind is not None:
        return kind(outcome.message or outcome.reason)
    return TicketsUnavailableError(
        f"the tickets service could not hold the tickets ({outcome.reason}): {outcome.message}"
    )


@dataclass(frozen=True)
class TicketTypeInfo:
    """What an order needs to know of a ticket type."""

    id: UUID
    event_id: UUID
    category: str
    price: Money
    remaining: int


class TicketsClient:
    """Calls the tickets service as the payments service, with deadlines."""

    def __init__(
        self,
        stub: Any,
        secret: bytes,
        cache_seconds: float = TICKET_TYPE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """stub: a TicketsServiceStub, or a RoutedStub over several tickets replicas."""
        self.stub = stub
        self.secret = secret
        self.cache_seconds = cache_seconds
        self.clock = clock
        # ticket type id -> (when read, the answer in flight or read)
        self._ticket_types: dict[UUID, tuple[float, asyncio.Future[TicketTypeInfo]]] = {}
        # Per ticket type, the holds waiting for its next ReserveBatch call.
        self._holds: dict[UUID, BatchQueue[_QueuedHold, datetime]] = {}

    async def ticket_type(self, ticket_type_id: UUID) -> TicketTypeInfo:
        """The ticket type's price and concert, as read at most cache_seconds ago.

        Concurrent callers share one call; a failed call is not remembered.
        """
        now = self.clock()
        known = self._ticket_types.get(ticket_type_id)
        if known is not None and now - known[0] <= self.cache_seconds:
            return await asyncio.shield(known[1])
        if len(self._ticket_types) >= MAX_CACHED_TICKET_TYPES:
            self._ticket_types.clear()
        answer = asyncio.ensure_future(self._read_ticket_type(ticket_type_id))
        self._ticket_types[ticket_type_id] = (now, answer)
        answer.add_done_callback(partial(self._forget_failure, ticket_type_id))
        return await asyncio.shield(answer)

    def _forget_failure(self, ticket_type_id: UUID, answer: asyncio.Future[TicketTypeInfo]) -> None:
        if answer.cancelled() or answer.exception() is not None:
            known = self._ticket_types.get(ticket_type_id)
            if known is not None and known[1] is answer:
                del self._ticket_types[ticket_type_id]

    async def _read_ticket_type(self, ticket_type_id: UUID) -> TicketTypeInfo:
        message = await self._call(
            self.stub.GetTicketType,
            tickets_pb2.GetTicketTypeRequest(ticket_type_id=str(ticket_type_id)),
        )
        return TicketTypeInfo(
            id=UUID(message.id),
            event_id=UUID(message.event_id),
            category=message.category,
            price=parse_money(message.price),
            remaining=message.remaining,
        )

    async def reserve(
        self, ticket_type_id: UUID, order_id: UUID, quantity: int, expires_at: datetime
    ) -> datetime:
        """Hold tickets for the order until expires_at; answer when the hold expires.

        A repeat changes nothing and answers the existing hold's own expiry. Holds on one
        ticket type that queue up while a call for it is in flight go together in the next
        ReserveBatch call; each caller gets its own hold's outcome.
        """
        queue = self._holds.get(ticket_type_id)
        if queue is None:
            queue = BatchQueue(
                partial(self._send_batch, ticket_type_id), MAX_HOLDS_PER_CALL, name="holds"
            )
            self._holds[ticket_type_id] = queue
        return await queue.submit(_QueuedHold(str(order_id), quantity, expires_at))

    async def _send_batch(
        self, ticket_type_id: UUID, batch: list[_QueuedHold]
    ) -> list[Exception | datetime]:
        """One ReserveBatch call; each hold's outcome (a failed call fails them all)."""
        request = tickets_pb2.ReserveBatchRequest(
            ticket_type_id=str(ticket_type_id),
            holds=[
                tickets_pb2.ReserveItem(
                    order_id=hold.order_id,
                    quantity=hold.quantity,
                    expires_at=timestamp(hold.expires_at),
                )
                for hold in batch
            ],
        )
        response = await self._call(self.stub.ReserveBatch, request)
        return [
            _outcome(outcome, hold.expires_at)
            for outcome, hold in zip(response.outcomes, batch, strict=False)
        ]

    async def confirm(self, ticket_type_id: UUID, order_id: UUID) -> None:
        """The order's held tickets are sold."""
        await self._call(self.stub.Confirm, self._hold(ticket_type_id, order_id))

    async def release(self, ticket_type_id: UUID, order_id: UUID) -> None:
        """The order's held tickets go back on sale."""
        await self._call(self.stub.Release, self._hold(ticket_type_id, order_id))

    async def expire(self, ticket_type_id: UUID, order_id: UUID) -> None:
        """The order's hold ran out: its tickets go back on sale."""
        await self._call(self.stub.Expire, self._hold(ticket_type_id, order_id))

    async def refund(self, ticket_type_id: UUID, order_id: UUID) -> None:
        """The order's sold tickets go back on sale."""
        await self._call(self.stub.Refund, self._hold(ticket_type_id, order_id))

    @staticmethod
    def _hold(ticket_type_id: UUID, order_id: UUID) -> tickets_pb2.HoldRequest:
        return tickets_pb2.HoldRequest(ticket_type_id=str(ticket_type_id), order_id=str(order_id))

    async def _call(self, method: Callable[..., Awaitable[Any]], request: object) -> Any:
        try:
            return await method(
                request,
                timeout=CALL_TIMEOUT_SECONDS,
                metadata=identity_metadata(PAYMENTS, self.secret) + request_id_metadata(),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise TicketsUnavailableError(
                    f"the tickets service is unavailable ({error.code().name}); try again"
                ) from error
            reason = dict(error.trailing_metadata() or ()).get(REASON_KEY, "")
            kind = REASONS.get(str(reason))
            if kind is None:
                raise
            raise kind(error.details() or str(reason)) from error
