"""The gateway's gRPC clients, and the call metadata that says who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Request

from protos.ticketing.v1 import (
    payments_pb2,
    payments_pb2_grpc,
    tickets_pb2_grpc,
    users_pb2_grpc,
)
from services.common import stages
from services.common.errors import REASON_KEY
from services.common.group_commit import BatchQueue
from services.common.identity import Identity, identity_metadata
from services.common.logs import REQUEST_ID, request_id_metadata
from services.common.routing import RoutedStub
from services.common.settings import Settings

CALL_TIMEOUT_SECONDS = 10.0
CUSTOMER = Identity("anonymous", "customer", "gateway")
WEBHOOK = Identity("gateway", "service", "gateway")
# Orders waiting while this many PlaceOrders calls are in flight go together in the next one.
ORDER_CALL_LANES = 4
MAX_ORDERS_PER_CALL = 200
STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
Queued = tuple[payments_pb2.PlaceOrderRequest, str]  # the request, and its HTTP request's id


class OrderPlacer:
    """PlaceOrder for many concurrent buyers through few PlaceOrders calls.

    During a rush most of a gRPC call's cost is the call, not the order: orders that arrive
    while ORDER_CALL_LANES calls are in flight share the next call. Each caller gets what
    PlaceOrder would have answered: its response, or an AioRpcError with the same code, reason
    (trailing metadata) and message, so the gateway's problem documents do not change.
    """

    def __init__(
        self, stub: payments_pb2_grpc.PaymentsServiceStub, secret: bytes, lanes: int
    ) -> None:
        self.stub = stub
        self.secret = secret
        self.queue: BatchQueue[Queued, payments_pb2.PlaceOrderResponse] = BatchQueue(
            self._send, MAX_ORDERS_PER_CALL, name="place_orders", lanes=lanes
        )

    async def place(
        self, request: payments_pb2.PlaceOrderRequest
    ) -> payments_pb2.PlaceOrderResponse:
        """The order placed (or found again) for this request; AioRpcError if refused."""
        return await self.queue.submit((request, REQUEST_ID.get() or ""))

    async def _send(self, batch: list[Queued]) -> list[payments_pb2.PlaceOrderResponse | Exception]:
        call = payments_pb2.PlaceOrdersRequest(
            orders=[
                payments_pb2.PlaceOrdersItem(order=request, request_id=request_id)
                for request, request_id in batch
            ]
        )
        if stages.enabled():
            for request, _ in batch:
                stages.mark("g_call", request.idempotency_key)
        response = await self.stub.PlaceOrders(
            call, metadata=identity_metadata(CUSTOMER, self.secret), timeout=CALL_TIMEOUT_SECONDS
        )
        if stages.enabled():
            for request, _ in batch:
                stages.mark("g_ret", request.idempotency_key)
        return [
            outcome.placed if outcome.HasField("placed") else refused(outcome.refusal)
            for outcome in response.outcomes
        ]


def refused(refusal: payments_pb2.Refusal) -> grpc.aio.AioRpcError:
    """The error PlaceOrder would have raised for this refusal."""
    trailing = ((REASON_KEY, refusal.reason),) if refusal.reason else ()
    return grpc.aio.AioRpcError(
        STATUS_CODES.get(refusal.code, grpc.StatusCode.UNKNOWN),
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*trailing),
        details=refusal.message,
    )


@dataclass
class Services:
    """Stubs of the users, tickets and payments services, and how to vouch for callers."""

    channels: list[grpc.aio.Channel]  # users, payments, notifications
    users: users_pb2_grpc.UsersServiceStub
    tickets: RoutedStub  # each ticket type's commands to one tickets replica
    payments: payments_pb2_grpc.PaymentsServiceStub
    secret: bytes
    orders: OrderPlacer

    @classmethod
    def connect(cls, settings: Settings) -> Services:
        channels = [
            grpc.aio.insecure_channel(address)
            for address in (
                settings.ticketing_users_addr,
                settings.ticketing_payments_addr,
                settings.ticketing_notifications_addr,
            )
        ]
        payments = payments_pb2_grpc.PaymentsServiceStub(channels[1])
        secret = settings.secret("internal")
        return cls(
            channels,
            users_pb2_grpc.UsersServiceStub(channels[0]),
            RoutedStub(tickets_pb2_grpc.TicketsServiceStub, settings.tickets_replicas()),
            payments,
            secret,
            OrderPlacer(payments, secret, ORDER_CALL_LANES),
        )

    def as_caller(self, identity: Identity) -> dict[str, object]:
        """Keyword arguments for a call made on behalf of identity, with a deadline.

        The metadata also forwards the request id of the HTTP request being handled.
        """
        return {
            "metadata": identity_metadata(identity, self.secret) + request_id_metadata(),
            "timeout": CALL_TIMEOUT_SECONDS,
        }

    async def close(self) -> None:
        await self.orders.queue.close()
        for channel in self.channels:
            await channel.close()
        await self.tickets.close()


async def services_of(request: Request) -> Services:
    """The app's service clients."""
    services: Services = request.app.state.services
    return services


ServiceClients = Annotated[Services, Depends(services_of)]
