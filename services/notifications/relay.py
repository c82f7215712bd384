"""The outbox relay: the payments event log, published to the broker, position kept after confirms.

The event store is the outbox: nothing is published inside a command. The relay reads the
Orders application's notification log from its stored position, publishes `order.paid` and
`order.refunded` with the broker's confirm, and only then records how far it got. Killed
between the two, it publishes the same messages again on restart, with the same message ids;
the consumer's (order_id, channel) row absorbs the repeat.

The relay writes the whole receipt into `order.paid` (concert, ticket category, amounts), read
from the Tickets and Orders stores at the version that was paid, so the notification service
needs no access to other services' stores and a message says what was true when it was paid.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from services.common.application import event_name
from services.common.metrics import OUTBOX_LAG_NOTIFICATIONS, QUEUE_DEPTH
from services.common.periodic import PeriodicTask
from services.notifications.bus import MessageBus
from services.notifications.receipt import PaidOrder
from services.notifications.store import NotificationStore
from services.payments.application import Orders
from services.tickets.application import Tickets

log = logging.getLogger(__name__)

# The order events that become broker messages; the rest are passed over undecoded.
PUBLISHED = frozenset({"Order.Paid", "Order.Refunded"})
PAGE = 500
RELAY_NAME = "payments-outbox"


class OutboxRelay(PeriodicTask):
    """Follows the payments event log and publishes what the notification service needs."""

    failure_message = "outbox relay failed; retrying from the stored position"

    def __init__(
        self,
        orders: Orders,
        tickets: Tickets,
        bus: MessageBus,
        store: NotificationStore,
        interval: float = 0.5,
        name: str = RELAY_NAME,
    ) -> None:
        self.orders = orders
        self.tickets = tickets
        self.bus = bus
        self.store = store
        self.interval = interval
        self.name = name

    async def relay(self) -> int:
        """Publish everything after the stored position; return how many messages were sent."""
        published = 0
        position = await asyncio.to_thread(self.store.relay_position, self.name)
        while True:
            notifications = await asyncio.to_thread(
                self.orders.notification_log.select, position + 1, PAGE
            )
            for notification in notifications:
                if event_name(notification) not in PUBLISHED:
                    position = notification.id  # placed, held, ...: nothing to announce
                    continue
                message = await asyncio.to_thread(self._message_for, notification)
                if message is not None:
                    routing_key, message_id, body = message
                    await self.bus.publish(routing_key, body, message_id)
                    published += 1
                    log.debug("published %s", message_id, extra={"order_id": message_id[:36]})
                    # Only now, after the broker's confirm, does the position move past it.
                    await asyncio.to_thread(
                        self.store.record_relay_position, self.name, notification.id
                    )
                position = notification.id
            if notifications:
                await asyncio.to_thread(self.store.record_relay_position, self.name, position)
            if len(notifications) < PAGE:
                return published

    def _message_for(self, notification: Any) -> tuple[str, str, bytes] | None:
        event = self.orders.mapper.to_domain_event(notification)
        name = type(event).__qualname__
        if name == "Order.Paid":
            order = self.orders.repository.get(
                event.originator_id, version=event.originator_version
            )
            return "order.paid", f"{order.id}:paid", self.paid_order(order).to_json()
        if name == "Order.Refunded":
            order_id = event.originator_id
            body = {
                "type": "order.refunded",
                "order_id": str(order_id),
                "reason": event.reason,
                "refunded_at": event.timestamp.isoformat(),
            }
            return "order.refunded", f"{order_id}:refunded", json.dumps(body).encode()
        return None

    def paid_order(self, order: Any) -> PaidOrder:
        """The receipt's facts: the order as paid, its concert and ticket type."""
        concert = self.tickets.repository.get(order.event_id)
        ticket_type = self.tickets.repository.get(order.ticket_id)
        return PaidOrder(
            order_id=str(order.id),
            email=order.email,
            event_title=concert.title,
            event_location=concert.location,
            event_date_time=concert.date_time.isoformat(),
            ticket_category=ticket_type.category,
            quantity=order.quantity,
            total_amount=str(order.total_amount),
            currency=order.total_amount.currency,
            payment_ref=order.payment_ref,
            paid_at=order.paid_at.isoformat(),
        )

    async def measure(self) -> None:
        """Update the outbox-lag and queue-depth gauges."""
        position = await asyncio.to_thread(self.store.relay_position, self.name)
        newest = await asyncio.to_thread(self.orders.recorder.max_notification_id)
        OUTBOX_LAG_NOTIFICATIONS.set(max(0, (newest or 0) - position))
        depth = await self.bus.depth()
        if depth is not None:
            QUEUE_DEPTH.set(depth)

    async def run_once(self) -> None:
        published = await self.relay()
        if published:
            log.info("published %d order messages", published)
        await self.measure()
