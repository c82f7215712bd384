"""The gateway's gRPC clients, and the call metadata that says who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Request

from protos.ticketing.v1 import (
    payments_pb2_grpc,
    tickets_pb2_grpc,
    users_pb2_grpc,
)
from services.common.identity import Identity, identity_metadata
from services.common.logs import request_id_metadata
from services.common.routing import RoutedStub
from services.common.settings import Settings

CALL_TIMEOUT_SECONDS = 10.0
CUSTOMER = Identity("anonymous", "customer", "gateway")
WEBHOOK = Identity("gateway", "service", "gateway")


@dataclass
class Services:
    """Stubs of the users, tickets and payments services, and how to vouch for callers."""

    channels: list[grpc.aio.Channel]  # users, payments, notifications
    users: users_pb2_grpc.UsersServiceStub
    tickets: RoutedStub  # each ticket type's commands to one tickets replica
    payments: payments_pb2_grpc.PaymentsServiceStub
    secret: bytes

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
        return cls(
            channels,
            users_pb2_grpc.UsersServiceStub(channels[0]),
            RoutedStub(tickets_pb2_grpc.TicketsServiceStub, settings.tickets_replicas()),
            payments_pb2_grpc.PaymentsServiceStub(channels[1]),
            settings.secret("internal"),
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
        for channel in self.channels:
            await channel.close()
        await self.tickets.close()


async def services_of(request: Request) -> Services:
    """The app's service clients."""
    services: Services = request.app.state.services
    return services


ServiceClients = Annotated[Services, Depends(services_of)]
