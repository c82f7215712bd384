"""Group commit for orders: queued commands on many orders, applied and saved together.

The event store serialises every insert of one application (DESIGN.md), so one transaction
per order caps a rush at the table lock's pace. The writer drains its queue, applies each
command to its order, and saves every changed order in one atomic save. If another replica
changed one of them first, the store refuses the save and the batch is replayed on fresh state.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.errors import NotFoundError, TicketingError
from domain.money import Money
from domain.order import Order, OrderStatus
from services.common.group_commit import DEFAULT_MAX_BATCH, BatchQueue
from services.common.metrics import count_saved_events
from services.common.retry import ConflictRetriesExhaustedError
from services.payments.application import Orders

MAX_BATCH = DEFAULT_MAX_BATCH
# Orders this writer saved are reused without a reload for this long: a placed order's next
# steps (held, payment attached) follow within a second. Longer-lived state is read again,
# and a stale copy can never be saved: the store refuses it and the batch is replayed.
CACHE_SECONDS = 5.0
MAX_CACHED_ORDERS = 10_000

# Given the order (None if it does not exist yet), change it or create it, and return it.
Decide = Callable[[Order | None], Order]


@dataclass(frozen=True)
class OrderView:
    """An order as it stood right after one command."""

    id: UUID
    event_id: UUID
    ticket_id: UUID
    quantity: int
    email: str
    phone_number: str
    total_amount: Money
    status: OrderStatus
    placed_at: datetime
    hold_expires_at: datetime | None
    payment_ref: str | None
    checkout_url: str | None
    paid_at: datetime | None
    failure_reason: str | None
    version: int
    request_fingerprint: str

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls(
            id=order.id,
            event_id=order.event_id,
            ticket_id=order.ticket_id,
            quantity=order.quantity,
            email=order.email,
            phone_number=order.phone_number,
            total_amount=order.total_amount,
            status=order.status,
            placed_at=order.created_on,
            hold_expires_at=order.hold_expires_at,
            payment_ref=order.payment_ref,
            checkout_url=order.checkout_url,
            paid_at=order.paid_at,
            failure_reason=order.failure_reason,
            version=order.version,
            request_fingerprint=order.request_fingerprint,
        )


class OrderWriter:
    """One queue for all orders; each batch is one transaction."""

    def __init__(self, orders: Orders, max_batch: int = MAX_BATCH, conflict_retries: int = 30):
        self.orders = orders
        self.conflict_retries = conflict_retries
        self.queue: BatchQueue[tuple[UUID, Decide, bool], OrderView] = BatchQueue(
            self._apply, max_batch, name="orders"
        )
        self.batches_saved = 0
        self.saved: OrderedDict[UUID, tuple[float, Order]] = OrderedDict()
        self.saved_lock = threading.Lock()

    async def submit(
        self, order_id: UUID, decide: Decide, *, probably_new: bool = False
    ) -> OrderView:
        """Queue a command on one order and wait for its outcome.

        `probably_new` (a placement under a new key): skip looking for the order in the
        store; if it does exist after all, saving a second creation is refused by the store
        and the batch is replayed on what is stored.
        """
        return await self.queue.submit((order_id, decide, probably_new))

    async def update(self, order_id: UUID, change: Callable[[Order], None]) -> OrderView:
        """Apply a command to an existing order."""

        def decide(order: Order | None) -> Order:
            if order is None:
                raise NotFoundError(f"Order {order_id} not found")
            change(order)
            return order

        return await self.submit(order_id, decide)

    def recently_saved(self, order_id: UUID) -> bool:
        """Whether this writer saved the order within CACHE_SECONDS (it surely exists)."""
        with self.saved_lock:
            seen = self.saved.get(order_id)
        return seen is not None and time.monotonic() - seen[0] <= CACHE_SECONDS

    async def get(self, order_id: UUID) -> OrderView:
        """The order as it stands (read straight from the store, not queued)."""
        return OrderView.of(await asyncio.to_thread(self.orders.get_order, order_id))

    async def close(self) -> None:
        """Let every queued command finish."""
        await self.queue.close()

    def _apply(self, batch: list[tuple[UUID, Decide, bool]]) -> list[OrderView | Exception]:
        for attempt in range(self.conflict_retries):
            trusting = attempt == 0  # after a conflict, everything is read from the store
            touched: dict[UUID, Order | None] = {}
            outcomes: list[OrderView | Exception] = []
            try:
                for order_id, decide, probably_new in batch:
                    try:
                        if order_id in touched:
                            order = touched[order_id]
                        else:
                            order = self._load(order_id, trusting, probably_new)
                        order = decide(order)
                        touched[order_id] = order
                        outcomes.append(OrderView.of(order))
                    except TicketingError as refused:
                        if order_id not in touched:
                            # Never reuse a copy a refused command may have half changed, and
                            # never stand in "no order" for one that was not read: the next
                            # command on it loads it again.
                            self._forget([order_id])
                        outcomes.append(refused)
                changed = [order for order in touched.values() if order and order.pending_events]
                saved = [event for order in changed for event in order.pending_events]
                if changed:
                    self.orders.save(*changed)
            except IntegrityError:
                self._forget(touched)
                continue  # another replica changed one of these orders: replay on fresh state
            except Exception:
                self._forget(touched)  # they may hold unsaved events: never reuse them
                raise
            if changed:
                self.batches_saved += 1
                count_saved_events(saved)
            self._remember(order for order in touched.values() if order is not None)
            return outcomes
        raise ConflictRetriesExhaustedError(
            f"orders kept changing under {self.conflict_retries} attempts"
        )

    def _load(self, order_id: UUID, trusting: bool, probably_new: bool) -> Order | None:
        if trusting:
            with self.saved_lock:
                seen = self.saved.get(order_id)
            if seen is not None and time.monotonic() - seen[0] <= CACHE_SECONDS:
                return seen[1]
            if probably_new:
                return None
        try:
            return self.orders.get_order(order_id)
        except NotFoundError:
            return None

    def _remember(self, orders: Iterable[Order]) -> None:
        now = time.monotonic()
        with self.saved_lock:
            for order in orders:
                self.saved[order.id] = (now, order)
                self.saved.move_to_end(order.id)
            while len(self.saved) > MAX_CACHED_ORDERS:
                self.saved.popitem(last=False)

    def _forget(self, order_ids: Iterable[UUID]) -> None:
        with self.saved_lock:
            for order_id in order_ids:
                self.saved.pop(order_id, None)
