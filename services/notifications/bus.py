"""The message bus port: RabbitMQ through aio-pika, or an in-process queue (embedded mode).

Topology: a durable topic exchange `ticketing`; a durable quorum queue `notifications.receipts`
bound to `order.paid` that dead-letters into the fanout exchange `ticketing.dead` and its queue
`notifications.dead`. Publisher and consumer both declare it, so messages published while
the notification service is down wait in the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractIncomingMessage
from pamqp.commands import Basic

log = logging.getLogger(__name__)

RECEIPTS_BINDING = "order.paid"


class NotPublishedError(Exception):
    """The broker refused or returned a message: it was not published."""


class Outcome(Enum):
    """What to do with a delivered message once its handler is done."""

    ACK = "ack"
    DEAD = "dead"  # reject without requeue: to the dead-letter queue
    REQUEUE = "requeue"


Handler = Callable[[bytes, str | None], Awaitable[Outcome]]


@dataclass(frozen=True)
class Names:
    """Exchange and queue names, all under one prefix."""

    prefix: str = ""

    @property
    def exchange(self) -> str:
        return f"{self.prefix}ticketing"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}ticketing.dead"

    @property
    def receipts(self) -> str:
        return f"{self.prefix}notifications.receipts"

    @property
    def dead(self) -> str:
        return f"{self.prefix}notifications.dead"


CHANNEL_GONE = (aio_pika.exceptions.ChannelInvalidStateError, aio_pika.exceptions.ChannelClosed)


class MessageBus(Protocol):
    """Publish with confirms; consume one queue with manual acknowledgement."""

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None: ...
    async def start_consuming(self, handler: Handler, prefetch: int) -> None: ...
    async def stop_consuming(self) -> None: ...
    async def depth(self) -> int | None: ...
    async def close(self) -> None: ...


class InFlight:
    """Counts handlers at work, so a shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def run(self, work: Awaitable[None]) -> None:
        self.count += 1
        self.idle.clear()
        try:
            await work
        finally:
            self.count -= 1
            if self.count == 0:
                self.idle.set()


class RabbitBus:
    """RabbitMQ: persistent messages, publisher confirms, a quorum queue, a dead-letter queue."""

    def __init__(self, url: str, names: Names, requeue_pause: float = 1.0) -> None:
        self.url = url
        self.names = names
        self.requeue_pause = requeue_pause
        self.connection: Any = None
        self.exchange: Any = None
        self.queue: Any = None
        self.consumer_tag: str | None = None
        self.in_flight = InFlight()

    async def connect(self) -> None:
        """Open the connection and declare the topology."""
        self.connection = await aio_pika.connect_robust(self.url)
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange, self.queue = await declare_topology(channel, self.names)

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        """Returns once the broker confirmed the message (raises if it refused it)."""
        message = aio_pika.Message(
            body,
            message_id=message_id,
            # Ties the message to the order's log lines: message ids start with the order id.
            correlation_id=message_id.partition(":")[0],
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # order.paid must reach the receipts queue: returned unroutable, it is not published.
        # Other keys (order.refunded) have no consumer yet and may go nowhere.
        must_route = routing_key == RECEIPTS_BINDING
        confirmation = await self.exchange.publish(
            message, routing_key=routing_key, mandatory=must_route
        )
        if not isinstance(confirmation, Basic.Ack):
            raise NotPublishedError(f"the broker did not take {message_id} ({routing_key})")

    async def start_consuming(self, handler: Handler, prefetch: int) -> None:
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(self.names.receipts, ensure=False)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self.in_flight.run(self._settle(handler, message))

        self.queue = queue
        self.consumer_tag = await queue.consume(on_message, no_ack=False)

    async def _settle(self, handler: Handler, message: AbstractIncomingMessage) -> None:
        try:
            outcome = await handler(message.body, message.message_id)
        except Exception:
            log.exception("handling message %s failed; requeueing it", message.message_id)
            await asyncio.sleep(self.requeue_pause)
            outcome = Outcome.REQUEUE
        if outcome is Outcome.ACK:
            await message.ack()
        elif outcome is Outcome.DEAD:
            await message.reject(requeue=False)
        else:
            await message.nack(requeue=True)

    async def stop_consuming(self) -> None:
        """Stop taking new messages, then wait for the ones being handled."""
        if self.consumer_tag is not None:
            try:
                await self.queue.cancel(self.consumer_tag)
            except CHANNEL_GONE as error:
                # The consumer went with its channel: nothing more will be delivered to it,
                # and what it had not acknowledged goes back to the queue.
                log.warning("the receipts consumer's channel was already closed: %s", error)
            self.consumer_tag = None
        await self.in_flight.idle.wait()

    async def depth(self) -> int | None:
        """Messages waiting in the receipts queue, as the broker counts them."""
        if self.queue is None:
            return None
        # Shielded: aiormq closes a channel whose call is cancelled (the relay's loop is, when
        # it stops), and once consuming, this queue's channel is the consumer's.
        declared = await asyncio.shield(self.queue.declare())
        return int(declared.message_count)

    async def close(self) -> None:
        await self.stop_consuming()
        if self.connection is not None:
            await self.connection.close()


async def declare_topology(channel: Any, names: Names) -> tuple[Any, Any]:
    """Declare (idempotently) the exchanges and queues; return the exchange and receipts queue."""
    exchange = await channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dead_exchange = await channel.declare_exchange(
        names.dead_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead = await channel.declare_queue(
        names.dead, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dead_exchange)
    receipts = await channel.declare_queue(
        names.receipts,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-dead-letter-exchange": names.dead_exchange},
    )
    await receipts.bind(exchange, routing_key=RECEIPTS_BINDING)
    return exchange, receipts


class InProcessBus:
    """The embedded mode's bus: an asyncio queue for receipts and a list of dead letters.

    Messages live in memory only: they survive a stopped consumer, not a stopped process.
    A graceful stop first lets the consumer take what is queued; a crash loses it.
    """

    def __init__(self, drain_seconds: float = 10.0) -> None:
        self.drain_seconds = drain_seconds
        self.receipts: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
        self.dead: list[tuple[bytes, str | None]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()
        self.in_flight = InFlight()

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        if routing_key == RECEIPTS_BINDING:
            self.receipts.put_nowait((body, message_id))

    async def start_consuming(self, handler: Handler, prefetch: int) -> None:
        self.stopping.clear()
        self.tasks = [asyncio.create_task(self._work(handler)) for _ in range(prefetch)]

    async def _work(self, handler: Handler) -> None:
        while not self.stopping.is_set():
            body, message_id = await self.receipts.get()
            await self.in_flight.run(self._settle(handler, body, message_id))

    async def _settle(self, handler: Handler, body: bytes, message_id: str) -> None:
        try:
            outcome = await handler(body, message_id)
        except Exception:
            log.exception("handling message %s failed; requeueing it", message_id)
            outcome = Outcome.REQUEUE
        if outcome is Outcome.DEAD:
            self.dead.append((body, message_id))
        elif outcome is Outcome.REQUEUE:
            self.receipts.put_nowait((body, message_id))

    async def stop_consuming(self) -> None:
        # The queue is memory only: hand out what is queued before stopping (within a bound),
        # since the relay's position has already moved past it.
        if self.tasks:
            deadline = asyncio.get_running_loop().time() + self.drain_seconds
            while not (self.receipts.empty() and self.in_flight.count == 0):
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("stopping with %d receipts still queued", self.receipts.qsize())
                    break
                await asyncio.sleep(0.02)
        # Workers idle in queue.get() are cancelled; one in a handler finishes it first.
        self.stopping.set()
        await self.in_flight.idle.wait()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    async def depth(self) -> int | None:
        """Messages waiting in the in-process queue."""
        return self.receipts.qsize()

    async def close(self) -> None:
        await self.stop_consuming()
