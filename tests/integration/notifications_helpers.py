"""Support for the notifications tests (named test_* to live beside them; it holds no tests).

A real SMTP server the test can take down, broker clean-up, and paid orders.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import aio_pika
from aiosmtpd.controller import Controller

from domain.money import Money
from services.common.settings import Settings
from services.notifications.bus import Names
from services.notifications.main import NotificationService, build_notification_service
from services.payments.application import Orders
from services.tickets.application import Tickets
from tests.ports import a_free_port

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PRICE = Money(2500, "KES")
SECRET = "order-token-secret-for-the-notification-tests"


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = 0.0  # seconds the server takes to accept each message

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        await asyncio.sleep(self.delay)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on a fixed free port that the test can take down and bring back."""

    def __init__(self) -> None:
        self.port = a_free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Wait until check() (sync or async) returns something truthy; return it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        await asyncio.sleep(interval)


async def delete_topology(names: Names) -> None:
    """Remove the test's exchanges and queues from the broker."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for queue in (names.receipts, names.dead):
            await channel.queue_delete(queue)
        for exchange in (names.exchange, names.dead_exchange):
            await channel.exchange_delete(exchange)


async def ready_messages(names: Names, queue_name: str) -> int:
    """How many messages wait in a queue."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        return queue.declaration_result.message_count or 0


async def dead_letters(names: Names) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take every message out of the dead-letter queue."""
    connection = await aio_pika.connect(AMQP_URL)
    taken = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(names.dead, ensure=False)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            taken.append(message)
    return taken


class Shop:
    """A concert with one ticket type, and customers who pay for orders of it."""

    def __init__(self, tickets: Tickets, orders: Orders) -> None:
        self.tickets = tickets
        self.orders = orders
        now = datetime.now(UTC)
        self.concert_id = tickets.create_concert(
            "Sauti Sol Live", "", "Uhuru Gardens, Nairobi", now + timedelta(days=30), "admin-1"
        )
        self.ticket_id = tickets.add_ticket_type(
            self.concert_id, "VIP", PRICE, 500, now - timedelta(days=1), now + timedelta(days=20),
            "admin-1",
        )  # fmt: skip

    def pay_order(self, quantity: int = 2, email: str | None = None) -> tuple[uuid.UUID, str]:
        """Place, hold, and pay an order; return its id and payment reference."""
        key = uuid.uuid4().hex
        order, _ = self.orders.place_order(
            key, self.concert_id, self.ticket_id, quantity,
            email or f"fan-{key[:8]}@example.com", "+254712345678", PRICE,
        )  # fmt: skip
        now = datetime.now(UTC)
        payment_ref = f"pay_{key[:12]}"
        self.orders.mark_held(order.id, now + timedelta(minutes=15))
        self.orders.attach_payment(order.id, payment_ref, f"https://pay.example/{payment_ref}")
        self.orders.mark_paid(order.id, payment_ref, now)
        return order.id, payment_ref


class Harness:
    """Builds notification services on the test's database, broker prefix and SMTP server."""

    def __init__(self, database_url: str, smtp: SmtpServer, data_dir) -> None:
        self.database_url = database_url
        self.smtp = smtp
        self.data_dir = data_dir
        self.names = Names(f"test-{uuid.uuid4().hex[:10]}.")
        self.services: list[NotificationService] = []

    async def build(self, grpc_address=None, **overrides) -> tuple[NotificationService, Shop]:
        self.settings = Settings(**{
            "database_url": self.database_url, "amqp_url": AMQP_URL, "smtp_url": self.smtp.url,
            "ticketing_amqp_prefix": self.names.prefix, "ticketing_data_dir": self.data_dir,
            "ticketing_order_token_secret": SECRET, "ticketing_relay_interval_seconds": 0.05,
            "ticketing_notify_backoff_seconds": 0.05, "ticketing_notify_attempts": 3,
            "ticketing_internal_secret": "internal-secret-for-the-notification-tests",
            **overrides,
        })  # fmt: skip
        service = await build_notification_service(self.settings, grpc_address)
        self.services.append(service)
        return service, Shop(service.tickets, service.orders)

    @property
    def inbox(self) -> list[EmailMessage]:
        return self.smtp.inbox.messages
