"""The expiry sweep: orders whose hold ran out unpaid are ended and their tickets released.

Which orders are open comes from following the payments event log, so every replica knows
every order whatever replica placed it, and a restart rebuilds the list from the history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.common.application import (
    event_name,
    plain_state,
    stored_datetime,
    stores_plain_json,
)
from services.common.periodic import PeriodicTask
from services.payments.application import Orders
from services.payments.saga import OrderSaga

log = logging.getLogger(__name__)

ENDED = {"Order.Rejected", "Order.Paid", "Order.Failed", "Order.Expired", "Order.Refunded"}
DEADLINES = {"Order.Placed", "Order.Held"}
PAGE = 1000


class OpenOrders:
    """The deadline of every order still waiting for its hold or its payment."""

    def __init__(self, orders: Orders, hold: timedelta) -> None:
        self.orders = orders
        self.hold = hold
        self.deadlines: dict[UUID, datetime] = {}
        self.position = 0
        # Stored state is the transcoder's JSON as it is, unless compressed or encrypted.
        self.plain_json = stores_plain_json(orders.mapper)

    def catch_up(self) -> None:
        """Read the event log from where we stopped to its end."""
        while True:
            notifications = self.orders.notification_log.select(self.position + 1, PAGE)
            # Only an order's last deadline in the page counts: of an order placed and then
            # held in one page, only the Held is read.
            latest: dict[UUID, Any] = {}
            for notification in notifications:
                self.position = notification.id
                name = event_name(notification)
                order_id: UUID = notification.originator_id  # type: ignore[assignment]
                if name in ENDED:  # the event's name says all: no need to decode it
                    latest.pop(order_id, None)
                    self.deadlines.pop(order_id, None)
                elif name in DEADLINES:
                    latest[order_id] = notification
            for order_id, notification in latest.items():
                self.deadlines[order_id] = self.deadline_of(notification)
            if len(notifications) < PAGE:
                return

    def due(self, now: datetime) -> list[UUID]:
        """Orders past their deadline, the longest overdue first."""
        overdue = [
            (deadline, order) for order, deadline in self.deadlines.items() if deadline <= now
        ]
        return [order for _, order in sorted(overdue)]

    def deadline_of(self, notification: Any) -> datetime:
        """When a Placed or Held event makes its order due, as the mapper's decode says.

        A Held event: its hold's expiry. A Placed event: the hold it carries (a rush's new
        order, placed already held), or else the hold period after its placing (placed before
        its hold; Placed events stored before holds were recorded in them carry none). The
        two fields are read from the stored JSON where it is plain: the mapper decodes every
        field of a Placed event (ids, money, a domain event object) for them; anything not
        stored as expected takes the mapper.
        """
        placed = event_name(notification) == "Order.Placed"
        state = plain_state(notification) if self.plain_json else None
        if state is not None:
            expires = state.get("hold_expires_at" if placed else "expires_at")
            if expires is None and placed:
                expires, later = state.get("timestamp"), self.hold
            else:
                later = timedelta(0)
            when = stored_datetime(expires)
            if when is not None:
                return when + later
        event: Any = self.orders.mapper.to_domain_event(notification)
        if not placed:
            return event.expires_at  # type: ignore[no-any-return]
        held_until = getattr(event, "hold_expires_at", None)
        return held_until if held_until is not None else event.timestamp + self.hold


class ExpirySweeper(PeriodicTask):
    """Every interval, end the overdue orders (idempotent, so replicas may overlap)."""

    failure_message = "expiry sweep failed; will retry"

    def __init__(
        self,
        open_orders: OpenOrders,
        saga: OrderSaga,
        clock: Callable[[], datetime],
        interval: float = 1.0,
    ) -> None:
        self.open_orders = open_orders
        self.saga = saga
        self.clock = clock
        self.interval = interval

    async def run_once(self) -> None:
        await self.sweep()

    async def sweep(self) -> list[UUID]:
        """End every overdue order once; return the ones handled."""
        await asyncio.to_thread(self.open_orders.catch_up)
        handled = []
        for order_id in self.open_orders.due(self.clock()):
            try:
                await self.saga.expire_order(order_id)
                handled.append(order_id)
            except Exception:
                log.exception("could not expire order %s; will retry", order_id)
        return handled
