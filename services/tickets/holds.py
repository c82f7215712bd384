"""Holds nobody came back for: the tickets service ends them a grace period past expiry.

The payments service holds an order's tickets first and records the order after (one order
save instead of two, DESIGN.md). A crash in between leaves a hold that no order knows of,
so the payments service's expiry sweep, which follows the orders, would never end it. This
sweep ends any hold still open `grace` past its expiry, whoever forgot it. The payments
sweep ends every recorded order's hold on time, after closing its payment at the provider;
this one is the net under it, and a payment that succeeds after it is refunded by the saga.

Which holds are open comes from following the tickets event log, as the payments sweep
follows the orders': every replica knows every hold, and a restart rebuilds the list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import HoldEndedError, NoSuchHoldError
from domain.ticket_type import TicketType
from services.common.application import (
    event_name,
    plain_state,
    stored_datetime,
    stores_plain_json,
)
from services.common.periodic import PeriodicTask
from services.tickets.application import Tickets
from services.tickets.writer import TicketTypeWriters

log = logging.getLogger(__name__)

OPENS = "TicketType.Reserved"
OPENS_MANY = "TicketType.HoldsReserved"  # a batch's new holds, in one event
ENDS = frozenset({"TicketType.Confirmed", "TicketType.Released", "TicketType.Expired"})
PAGE = 1000


class OpenHolds:
    """The expiry of every hold still open, by ticket type and order."""

    def __init__(self, tickets: Tickets) -> None:
        self.tickets = tickets
        self.expiries: dict[tuple[UUID, str], datetime] = {}
        self.position = 0
        # Stored state is the transcoder's JSON as it is, unless compressed or encrypted.
        self.plain_json = stores_plain_json(tickets.mapper)

    def catch_up(self) -> None:
        """Read the event log from where we stopped to its end."""
        while True:
            notifications = self.tickets.notification_log.select(self.position + 1, PAGE)
            for notification in notifications:
                self.position = notification.id
                name = event_name(notification)
                if name == OPENS_MANY:
                    for order_id, expires_at in self.holds_of(notification):
                        self.expiries[(notification.originator_id, order_id)] = expires_at
                    continue
                if name != OPENS and name not in ENDS:
                    continue  # the event's name says all: no need to decode it
                order_id, expires_at = self.hold_of(notification)
                hold = (notification.originator_id, order_id)
                if name == OPENS:
                    self.expiries[hold] = expires_at
                else:
                    self.expiries.pop(hold, None)
            if len(notifications) < PAGE:
                return

    def hold_of(self, notification: Any) -> tuple[str, Any]:
        """A hold event's order id and expiry (None if it has none), as the mapper decodes them.

        Parsing the two fields from the stored JSON costs a fraction of the mapper's decode
        (the library's transcoder, every field, a domain event object), which following a
        rush's log paid for every hold; anything not stored as expected takes the mapper.
        """
        state = plain_state(notification) if self.plain_json else None
        if state is not None:
            expires = state.get("expires_at")
            if expires is None:
                return state["order_id"], None
            when = stored_datetime(expires)
            if when is not None:
                return state["order_id"], when
        event: Any = self.tickets.mapper.to_domain_event(notification)
        return event.order_id, getattr(event, "expires_at", None)

    def holds_of(self, notification: Any) -> list[tuple[str, datetime]]:
        """A HoldsReserved event's holds (order id, expiry), as the mapper decodes them."""
        state = plain_state(notification) if self.plain_json else None
        if state is not None:
            holds = [(order, when) for order, _, stored in state["holds"]
                     if (when := stored_datetime(stored)) is not None]  # fmt: skip
            if len(holds) == len(state["holds"]):
                return holds
        event: Any = self.tickets.mapper.to_domain_event(notification)
        return [(order_id, expires_at) for order_id, _quantity, expires_at in event.holds]

    def overdue(self, now: datetime, grace: timedelta) -> list[tuple[UUID, str]]:
        """Holds open for longer than grace past their expiry, the longest overdue first."""
        late = [(expires_at, hold) for hold, expires_at in self.expiries.items()
                if expires_at + grace <= now]  # fmt: skip
        return [hold for _, hold in sorted(late)]


class HoldSweeper(PeriodicTask):
    """Every interval, expire the holds overdue by more than grace (idempotent)."""

    first_run_after_interval = True  # nothing is overdue for a grace period anyway
    failure_message = "hold sweep failed; will retry"

    def __init__(
        self,
        open_holds: OpenHolds,
        writers: TicketTypeWriters,
        clock: Callable[[], datetime],
        grace: timedelta,
        interval: float = 5.0,
    ) -> None:
        self.open_holds = open_holds
        self.writers = writers
        self.clock = clock
        self.grace = grace
        self.interval = interval

    async def run_once(self) -> None:
        await self.sweep()

    async def sweep(self) -> list[tuple[UUID, str]]:
        """Expire every overdue hold once; return the ones this sweep ended."""
        await asyncio.to_thread(self.open_holds.catch_up)
        ended = []
        for ticket_type_id, order_id in self.open_holds.overdue(self.clock(), self.grace):
            try:
                await self.writers.submit(ticket_type_id, self._expire(order_id))
            except (HoldEndedError, NoSuchHoldError):
                # Ended meanwhile (confirmed, released): the log will say so.
                self.open_holds.expiries.pop((ticket_type_id, order_id), None)
                continue
            except Exception:
                log.exception("could not end the hold of order %s; will retry", order_id)
                continue
            self.open_holds.expiries.pop((ticket_type_id, order_id), None)
            log.warning(
                "ended the hold of order %s on ticket type %s: still open %d s past its expiry",
                order_id, ticket_type_id, self.grace.total_seconds(),
            )  # fmt: skip
            ended.append((ticket_type_id, order_id))
        return ended

    def _expire(self, order_id: str) -> Callable[[TicketType], None]:
        def expire(ticket_type: TicketType) -> None:
            ticket_type.check_hold(order_id)  # ended meanwhile: refused, not a silent repeat
            ticket_type.expire(order_id, self.clock())

        return expire
