"""The two projectors: the tickets log (catalogue, inventory) and the payments log (orders).

Each turns a batch of notifications into Changes (blocking when it must load an aggregate:
the runner calls `digest` in a thread unless every aggregate is cached), then commits them in
one transaction with its position. Only notifications above the stored position are applied.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from redis.asyncio import Redis

from domain.concert import Concert
from domain.order import Order, OrderStatus
from domain.ticket_type import TicketType
from projections.aggregates import DEFAULT_CACHE_SIZE, AggregateCache
from projections.insights import OrderChange
from projections.keys import PAYMENTS_LOG, TICKETS_LOG, Generation, Keyspace
from projections.refresh import Changes, RelatedKeys, event_keys, refresh
from projections.state import ORDER_BUCKETS, State, concert_state, ticket_state
from projections.store import Plan, WatchedValues, commit
from services.common.application import plain_state, stores_plain_json, utc_now


@dataclass
class Batch:
    """What a run of notifications up to `end` changed, each change with its notification id."""

    end: int
    concerts: dict[str, tuple[int, State]] = field(default_factory=dict)
    tickets: dict[str, tuple[int, State]] = field(default_factory=dict)
    orders: list[OrderChange] = field(default_factory=list)

    def after(self, position: int) -> Changes:
        """The changes of notifications past position."""
        return Changes(
            concerts={k: state for k, (n, state) in self.concerts.items() if n > position},
            tickets={k: state for k, (n, state) in self.tickets.items() if n > position},
            orders=[change for change in self.orders if change.notification_id > position],
        )


class Projector(ABC):
    """Follows one application's log into the read models of a generation."""

    log: str

    def __init__(
        self,
        app: Application[UUID],
        redis: Redis,
        keyspace: Keyspace,
        *,
        clock: Callable[[], datetime] = utc_now,
        publish: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.app = app
        self.redis = redis
        self.keyspace = keyspace
        self.clock = clock
        self.channel = keyspace.insights_channel if publish else None
        self.cache = AggregateCache(app, cache_size)
        self.related = RelatedKeys(cache_size)

    def digest(self, notifications: Sequence[Notification]) -> Batch:
        """Decode and fold a non-empty run of notifications (blocking)."""
        batch = Batch(end=notifications[-1].id)
        for notification in notifications:
            self.fold(batch, notification.id, self.app.mapper.to_domain_event(notification))
        return batch

    @abstractmethod
    def fold(self, batch: Batch, notification_id: int, event: Any) -> None:
        """Record what one event changes."""

    async def apply(
        self, generation: Generation, batch: Batch, *, require_current: bool = True
    ) -> bool:
        """Commit the batch past the stored position; False if it was all applied already."""

        async def build(values: WatchedValues, position: int) -> Plan:
            changes = batch.after(position)
            return await refresh(
                values, generation, (), changes, self.clock(), self.channel, self.related
            )

        event_ids = batch.after(0).event_ids()
        return await commit(
            self.redis,
            self.keyspace,
            generation,
            build,
            log=self.log,
            batch_end=batch.end,
            require_current=require_current,
            prefetch=event_keys(generation, event_ids) + self.related.keys(generation, event_ids),
        )


class CatalogueProjector(Projector):
    """Concerts and ticket types: browsing documents, listings, inventory in insights."""

    log = TICKETS_LOG

    def fold(self, batch: Batch, notification_id: int, event: Any) -> None:
        aggregate = self.cache.advance(event)
        if isinstance(aggregate, Concert):
            batch.concerts[str(aggregate.id)] = (notification_id, concert_state(aggregate))
        elif isinstance(aggregate, TicketType):
            batch.tickets[str(aggregate.id)] = (notification_id, ticket_state(aggregate))


class SalesProjector(Projector):
    """Orders: counts per status, revenue and sales per minute in insights.

    A new order's Placed event (most of a rush's order events) is read from its stored JSON:
    its change (one order more in the pending bucket) needs four fields, where decoding it
    and building the order took about four times as long. The order is built from that event
    only if a later one needs it (AggregateCache.created).
    """

    log = PAYMENTS_LOG

    def digest(self, notifications: Sequence[Notification]) -> Batch:
        if not stores_plain_json(self.app.mapper):
            return super().digest(notifications)
        batch = Batch(end=notifications[-1].id)
        for notification in notifications:
            change = placed_change(notification)
            if change is not None:
                batch.orders.append(change)
                self.cache.created(notification)
            else:
                self.fold(batch, notification.id, self.app.mapper.to_domain_event(notification))
        return batch

    def fold(self, batch: Batch, notification_id: int, event: Any) -> None:
        before = self.cache.state_before(event)
        was = before.status if before is not None else None
        order = self.cache.advance(event)
        change = order_change(notification_id, was, order)
        if change is not None:
            batch.orders.append(change)


PLACED_TOPIC = get_topic(Order.Placed)


def placed_change(notification: Notification) -> OrderChange | None:
    """What a new order's Placed event changes, read from its stored JSON; None for any
    other event, or one not stored as expected (the mapper then decodes it).

    A placed order, held or not yet, is in the pending bucket (ORDER_BUCKETS) and not paid:
    `order_change` with nothing before it gives exactly this.
    """
    if notification.topic != PLACED_TOPIC or notification.originator_version != 1:
        return None
    try:
        state = plain_state(notification)
        if state is None:
            return None
        event_id, ticket_id = state["event_id"], state["ticket_id"]
        _minor, currency = state["unit_price"]["_data_"]
        if (
            event_id["_type_"] != "uuid_hex"
            or ticket_id["_type_"] != "uuid_hex"
            or state["unit_price"]["_type_"] != "money"
            or type(currency) is not str
        ):
            return None
        return OrderChange(
            notification_id=notification.id,
            event_id=str(UUID(event_id["_data_"])),
            ticket_id=str(UUID(ticket_id["_data_"])),
            currency=currency,
            left=None,
            entered=ORDER_BUCKETS[OrderStatus.PENDING],
            quantity=0,
            revenue=0,
            minute=None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def order_change(notification_id: int, was: OrderStatus | None, order: Order) -> OrderChange | None:
    """What moving from status `was` to the order's status does to the insights, if anything."""
    left = ORDER_BUCKETS.get(was) if was is not None else None
    entered = ORDER_BUCKETS.get(order.status)
    if left == entered:
        left = entered = None
    paid_now, paid_before = order.status is OrderStatus.PAID, was is OrderStatus.PAID
    sign = 1 if paid_now and not paid_before else -1 if paid_before and not paid_now else 0
    if left is None and entered is None and sign == 0:
        return None
    minute = None
    if sign and order.paid_at is not None:
        minute = order.paid_at.astimezone(UTC).replace(second=0, microsecond=0).isoformat()
    return OrderChange(
        notification_id=notification_id,
        event_id=str(order.event_id),
        ticket_id=str(order.ticket_id),
        currency=order.total_amount.currency,
        left=left,
        entered=entered,
        quantity=sign * order.quantity,
        revenue=sign * order.total_amount.minor,
        minute=minute,
    )
