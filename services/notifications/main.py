"""The notifications processes: the outbox relay and the receipt consumer, until SIGTERM.

`ticketing-notifications` runs both (and the gRPC edge) in one process; with `--no-relay` it
runs only the consumer and the gRPC edge, and `ticketing-relay` runs only the relay, so that a
deployment can run exactly one relay beside any number of consumers. Apart, they meet only on
RabbitMQ, so both refuse to start without AMQP_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from protos.ticketing.v1 import notifications_pb2_grpc
from services.common import loop
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
    # None in a relay-only process; the relay object serves the gRPC edge's resend either way.
    consumer: ReceiptConsumer | None
    orders: Orders
    tickets: Tickets
    grpc: GrpcService | None = None
    run_relay: bool = True

    async def start(self) -> None:
        if self.consumer is not None:
            await self.consumer.start()
        if self.run_relay:
            self.relay.start()
        if self.grpc is not None:
            await self.grpc.start()

    async def stop(self) -> None:
        """Stop publishing, finish the messages in hand, then close everything."""
        if self.grpc is not None:
            await self.grpc.stop()
        await self.relay.stop()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.bus.close()
        self.orders.close()
        self.tickets.close()
        self.database.close()


async def build_notification_service(
    settings: Settings,
    grpc_address: str | None = None,
    *,
    relay: bool = True,
    consumer: bool = True,
) -> NotificationService:
    """Wire the real adapters, or the embedded ones where a URL is unset; gRPC if given where.

    relay and consumer choose what start() runs; a process without the consumer builds no
    mailer and needs no order-token secret.
    """
    check_parts(settings, relay=relay, consumer=consumer)
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
    orders = Orders(env=settings.event_store_env("payments"))
    tickets = Tickets(env=settings.event_store_env("tickets"))
    outbox_relay = OutboxRelay(
        orders, tickets, bus, store, interval=settings.ticketing_relay_interval_seconds
    )
    receipt_consumer = build_consumer(settings, bus, store) if consumer else None
    service = NotificationService(
        database, store, bus, outbox_relay, receipt_consumer, orders, tickets, run_relay=relay
    )
    if grpc_address is not None:
        servicer = NotificationsServicer(store, outbox_relay)
        add = partial(notifications_pb2_grpc.add_NotificationsServiceServicer_to_server, servicer)
        service.grpc = GrpcService(settings.secret("internal"), [add], [SERVICE_NAME], grpc_address)
    return service


def check_parts(settings: Settings, *, relay: bool, consumer: bool) -> None:
    """Refuse, with the reason, a choice of parts that cannot deliver receipts."""
    if not (relay or consumer):
        raise ValueError("a notifications process runs the relay, the consumer, or both")
    if not (relay and consumer) and not settings.amqp_url:
        raise ValueError("the relay and the consumer run apart only through RabbitMQ: set AMQP_URL")


def build_consumer(
    settings: Settings, bus: MessageBus, store: NotificationStore
) -> ReceiptConsumer:
    """The receipt consumer: SMTP, or .eml files in the data folder without SMTP_URL."""
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
    return ReceiptConsumer(bus, store, mailer, policy, settings.ticketing_notify_prefetch)


async def serve(settings: Settings, *, relay: bool = True, consumer: bool = True) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully.

    The gRPC edge (an order's notifications, resend) comes with the consumer; a relay-only
    process listens on nothing.
    """
    grpc_address = (
        settings.listen_address(settings.ticketing_notifications_addr) if consumer else None
    )
    service = await build_notification_service(
        settings, grpc_address, relay=relay, consumer=consumer
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    await service.start()
    running = " and ".join(
        part for part, on in (("relay", relay), ("receipt consumer", consumer)) if on
    )
    log.info("notifications: %s running", running)
    await stopping.wait()
    await service.stop()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: `ticketing-notifications [--no-relay]`."""
    parser = argparse.ArgumentParser(
        prog="ticketing-notifications",
        description="The receipt consumer and the notifications gRPC service, and the relay.",
    )
    parser.add_argument(
        "--no-relay",
        action="store_true",
        help="leave the outbox relay to a `ticketing-relay` process (needs AMQP_URL)",
    )
    args = parser.parse_args(argv)
    run(Settings(), relay=not args.no_relay, consumer=True)


def relay_main(argv: list[str] | None = None) -> None:
    """Console entry point: `ticketing-relay`, the outbox relay alone (needs AMQP_URL)."""
    argparse.ArgumentParser(
        prog="ticketing-relay",
        description="The outbox relay alone: the payments log, published to RabbitMQ.",
    ).parse_args(argv)
    run(Settings(), relay=True, consumer=False)


def run(settings: Settings, *, relay: bool, consumer: bool) -> None:
    """Serve, or exit with status 2 and the reason when the settings cannot work."""
    setup_logging(settings, "relay" if relay and not consumer else "notifications")
    serve_metrics(settings)
    try:
        check_parts(settings, relay=relay, consumer=consumer)
    except ValueError as error:
        print(f"notifications: {error}", file=sys.stderr)
        sys.exit(2)
    loop.run(serve(settings, relay=relay, consumer=consumer))
