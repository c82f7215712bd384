"""The notifications process: the outbox relay and the receipt consumer, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from protos.ticketing.v1 import notifications_pb2_grpc
from services.common.database import Database, open_database
from services.common.grpc_server import GrpcService
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.notifications.bus import InProcessBus, MessageBus, Names, RabbitBus
from services.notifications.consumer import ReceiptConsumer, ReceiptPolicy
from services.notifications.mail import FileMailer, Mailer, SmtpMailer
from services.notifications.relay import OutboxRelay
from services.notifications.servicer import NotificationsServicer
from services.notifications.store import NotificationStore
from services.payments.application import Orders
from services.tickets.application import Tickets

log = logging.getLogger(__name__)
SERVICE_NAME = "ticketing.v1.NotificationsService"


@dataclass
class NotificationService:
    """Everything the process runs, built from one settings object."""

    database: Database
    store: NotificationStore
    bus: MessageBus
    relay: OutboxRelay
    consumer: ReceiptConsumer
    orders: Orders
    tickets: Tickets
    grpc: GrpcService | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.relay.start()
        if self.grpc is not None:
            await self.grpc.start()

    async def stop(self) -> None:
        """Stop publishing, finish the messages in hand, then close everything."""
        if self.grpc is not None:
            await self.grpc.stop()
        await self.relay.stop()
        await self.consumer.stop()
        await self.bus.close()
        self.orders.close()
        self.tickets.close()
        self.database.close()


async def build_notification_service(
    settings: Settings, grpc_address: str | None = None
) -> NotificationService:
    """Wire the real adapters, or the embedded ones where a URL is unset; gRPC if given where."""
    database = open_database(settings, "notifications")
    store = NotificationStore(database, timedelta(seconds=settings.ticketing_notify_lease_seconds))
    await asyncio.to_thread(store.migrate)
    bus: MessageBus
    if settings.amqp_url:
        rabbit = RabbitBus(settings.amqp_url, Names(settings.ticketing_amqp_prefix))
        await rabbit.connect()
        bus = rabbit
    else:
        bus = InProcessBus()
    mailer: Mailer = (
        SmtpMailer(settings.smtp_url)
        if settings.smtp_url
        else FileMailer(settings.ticketing_data_dir / "mail")
    )
    policy = ReceiptPolicy(
        public_url=settings.ticketing_public_url,
        order_token_secret=settings.secret("order_token"),
        sender=settings.ticketing_mail_from,
        attempts=settings.ticketing_notify_attempts,
        backoff=settings.ticketing_notify_backoff_seconds,
    )
    orders = Orders(env=settings.event_store_env("payments"))
    tickets = Tickets(env=settings.event_store_env("tickets"))
    relay = OutboxRelay(
        orders, tickets, bus, store, interval=settings.ticketing_relay_interval_seconds
    )
    consumer = ReceiptConsumer(bus, store, mailer, policy, settings.ticketing_notify_prefetch)
    service = NotificationService(database, store, bus, relay, consumer, orders, tickets)
    if grpc_address is not None:
        servicer = NotificationsServicer(store, relay)
        add = partial(notifications_pb2_grpc.add_NotificationsServiceServicer_to_server, servicer)
        service.grpc = GrpcService(settings.secret("internal"), [add], [SERVICE_NAME], grpc_address)
    return service


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    service = await build_notification_service(settings, settings.ticketing_notifications_addr)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    await service.start()
    log.info("notifications: relay and receipt consumer running")
    await stopping.wait()
    await service.stop()


def main() -> None:
    """Console entry point: `ticketing-notifications`."""
    settings = Settings()
    setup_logging(settings, "notifications")
    serve_metrics(settings)
    asyncio.run(serve(settings))
