"""The payments service process: the order saga, its expiry sweep, and the provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from protos.ticketing.v1 import payments_pb2_grpc, tickets_pb2_grpc
from services.common import loop
from services.common.application import utc_now
from services.common.grpc_server import GrpcService
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.routing import RoutedStub
from services.common.settings import Settings
from services.payments.application import Orders
from services.payments.expiry import ExpirySweeper, OpenOrders
from services.payments.order_writer import OrderWriter
from services.payments.providers.base import PaymentProvider
from services.payments.providers.sandbox import SandboxProvider
from services.payments.saga import OrderSaga
from services.payments.servicer import PaymentsServicer
from services.payments.tickets_client import TicketsClient

SERVICE_NAME = "ticketing.v1.PaymentsService"
# Reconnect quickly after the tickets service restarts, instead of gRPC's default back-off.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


@dataclass
class PaymentsProcess:
    """The payments service's server and what runs behind it."""

    service: GrpcService
    orders: Orders
    saga: OrderSaga
    sweeper: ExpirySweeper


def build_payments_service(
    settings: Settings,
    address: str,
    *,
    provider: PaymentProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    sweep_interval: float = 1.0,
) -> PaymentsProcess:
    """The payments gRPC service; the sweep starts with the server."""
    secret = settings.secret("internal")
    orders = Orders(
        env=settings.event_store_env("payments"),
        clock=clock,
        conflict_retries=settings.ticketing_conflict_retries,
    )
    writer = OrderWriter(orders, conflict_retries=settings.ticketing_conflict_retries)
    tickets = RoutedStub(
        tickets_pb2_grpc.TicketsServiceStub, settings.tickets_replicas(), CHANNEL_OPTIONS
    )
    sandbox = None
    if provider is None:
        provider = sandbox = SandboxProvider(
            settings.ticketing_sandbox_url, settings.secret("sandbox_webhook")
        )
    hold = timedelta(seconds=settings.ticketing_hold_seconds)
    saga = OrderSaga(writer, TicketsClient(tickets, secret), provider, hold, clock)
    sweeper = ExpirySweeper(OpenOrders(orders, hold), saga, clock, sweep_interval)
    servicer = PaymentsServicer(saga, writer, settings.secret("order_token"))
    service = GrpcService(
        secret,
        [lambda server: payments_pb2_grpc.add_PaymentsServiceServicer_to_server(servicer, server)],
        [SERVICE_NAME],
        address,
    )

    async def close() -> None:
        await sweeper.stop()
        await writer.close()
        await tickets.close()
        if sandbox is not None:
            await sandbox.aclose()
        orders.close()

    service.on_stop.append(close)
    service.on_start.append(sweeper.start)
    return PaymentsProcess(service, orders, saga, sweeper)


def main() -> None:
    """Serve the payments service on TICKETING_PAYMENTS_ADDR until SIGTERM."""
    settings = Settings()
    setup_logging(settings, "payments")
    serve_metrics(settings)

    async def serve() -> None:
        # grpc.aio objects belong to the loop they are made in: build inside it.
        process = build_payments_service(
            settings, settings.listen_address(settings.ticketing_payments_addr)
        )
        await process.service.serve_until_signalled()

    loop.run(serve())
