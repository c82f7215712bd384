"""Group commit: one writer per ticket type applies queued commands in batches, saving once.

A hot ticket type is one aggregate, so concurrent buyers all want to append at the same
version. Instead of letting them race (each losing writer reloads and retries: a conflict
storm), every command for one ticket type joins that ticket type's queue. A single drain task
applies the whole queue to the writer's in-memory aggregate, saves the new events in one
transaction, and answers each caller. A command the domain refuses leaves the aggregate
unchanged (the property tests check this), so the rest of the batch goes on. If another
replica appended first, the save is refused by the store's unique (id, version) rule: the
writer reloads and replays the batch, so correctness never depends on routing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.errors import TicketingError
from domain.money import Money
from domain.ticket_type import TicketType
from services.common.group_commit import DEFAULT_MAX_BATCH, BatchQueue
from services.common.metrics import count_saved_events
from services.common.retry import ConflictRetriesExhaustedError
from services.tickets.application import Tickets

MAX_BATCH = DEFAULT_MAX_BATCH
MAX_CACHED_AGGREGATES = 10_000
# How old the state a writer last saved may be and still answer a read (GetTicketType).
MAX_VIEW_AGE_SECONDS = 1.0

Decide = Callable[[TicketType], None]


@dataclass(frozen=True)
class TicketTypeView:
    """A ticket type's state as it stood right after one command: safe to hand to callers."""

    id: UUID
    event_id: UUID
    category: str
    price: Money
    total_stock: int
    sold: int
    held: int
    remaining: int
    sales_start: datetime
    sales_end: datetime
    concert_active: bool
    version: int

    @classmethod
    def of(cls, ticket_type: TicketType) -> TicketTypeView:
        return cls(
            id=ticket_type.id,
            event_id=ticket_type.event_id,
            category=ticket_type.category,
            price=ticket_type.price,
            total_stock=ticket_type.total_stock,
            sold=ticket_type.sold,
            held=ticket_type.held,
            remaining=ticket_type.remaining,
            sales_start=ticket_type.sales_start,
            sales_end=ticket_type.sales_end,
            concert_active=ticket_type.concert_active,
            version=ticket_type.version,
        )

    def is_on_sale(self, now: datetime) -> bool:
        """Whether a customer could buy at least one ticket now."""
        return (
            self.concert_active and self.sales_start <= now < self.sales_end and self.remaining > 0
        )


class TicketTypeWriters:
    """One queue and one drain task per ticket type; batches applied and saved together."""

    def __init__(
        self, tickets: Tickets, max_batch: int = MAX_BATCH, conflict_retries: int = 30
    ) -> None:
        self.tickets = tickets
        self.max_batch = max_batch
        self.conflict_retries = conflict_retries
        self.queues: dict[UUID, BatchQueue[Decide, TicketTypeView]] = {}
        self.aggregates: OrderedDict[UUID, TicketType] = OrderedDict()
        self.cache_lock = threading.Lock()  # batches of different ticket types run in parallel
        # The state each writer last saved (or found nothing to save on), and when (monotonic).
        self.views: dict[UUID, tuple[float, TicketTypeView]] = {}
        self.batches_saved = 0

    async def submit(self, ticket_type_id: UUID, decide: Decide) -> TicketTypeView:
        """Queue a command for the ticket type and wait for its outcome."""
        queue = self.queues.get(ticket_type_id)
        if queue is None:
            queue = BatchQueue(partial(self._apply, ticket_type_id), self.max_batch, name="tickets")
            self.queues[ticket_type_id] = queue
        return await queue.submit(decide)

    def recent_view(
        self, ticket_type_id: UUID, max_age: float = MAX_VIEW_AGE_SECONDS
    ) -> TicketTypeView | None:
        """The state this writer saved within max_age seconds, if any.

        Reading it costs nothing, where loading a hot ticket type copies every hold. It is
        the latest state in this process; another replica's writes (which routing avoids)
        show up at this writer's next save, whose conflict reloads it.
        """
        seen = self.views.get(ticket_type_id)
        if seen is None or time.monotonic() - seen[0] > max_age:
            return None
        return seen[1]

    async def close(self) -> None:
        """Let every queued command finish."""
        for queue in list(self.queues.values()):
            await queue.close()

    def _apply(self, ticket_type_id: UUID, batch: list[Decide]) -> list[TicketTypeView | Exception]:
        """Apply the batch to the cached aggregate, save once; on a conflict reload and replay."""
        for _ in range(self.conflict_retries):
            ticket_type = self._cached(ticket_type_id)
            outcomes: list[TicketTypeView | Exception] = []
            for decide in batch:
                try:
                    decide(ticket_type)
                    outcomes.append(TicketTypeView.of(ticket_type))
                except TicketingError as refused:
                    outcomes.append(refused)
            if not ticket_type.pending_events:
                self._remember(ticket_type)
                return outcomes  # every command was a repeat or refused: nothing to save
            saved = list(ticket_type.pending_events)
            try:
                self.tickets.save(ticket_type)
            except IntegrityError:
                self._forget(ticket_type_id)  # another writer got there first
                continue
            except Exception:
                self._forget(ticket_type_id)  # it holds unsaved events: never reuse it
                raise
            self.batches_saved += 1
            count_saved_events(saved, partial(sold_to, ticket_type))
            self._remember(ticket_type)
            return outcomes
        raise ConflictRetriesExhaustedError(
            f"ticket type {ticket_type_id} kept changing under {self.conflict_retries} attempts"
        )

    def _cached(self, ticket_type_id: UUID) -> TicketType:
        with self.cache_lock:
            ticket_type = self.aggregates.get(ticket_type_id)
            if ticket_type is not None:
                self.aggregates.move_to_end(ticket_type_id)
                return ticket_type
        ticket_type = self.tickets.get_ticket_type(ticket_type_id)
        with self.cache_lock:
            self.aggregates[ticket_type_id] = ticket_type
            while len(self.aggregates) > MAX_CACHED_AGGREGATES:
                self.aggregates.popitem(last=False)
        return ticket_type

    def _remember(self, ticket_type: TicketType) -> None:
        if ticket_type.deleted:
            self.views.pop(ticket_type.id, None)
            return
        self.views[ticket_type.id] = (time.monotonic(), TicketTypeView.of(ticket_type))

    def _forget(self, ticket_type_id: UUID) -> None:
        with self.cache_lock:
            self.aggregates.pop(ticket_type_id, None)
            self.views.pop(ticket_type_id, None)


def sold_to(ticket_type: TicketType, order_id: str) -> int:
    """How many tickets of ticket_type the order bought."""
    return ticket_type.sold_by_order.get(order_id, 0)
