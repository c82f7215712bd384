"""Verification by replay: every stream is read again and checked by the auditor's own rules.

The inventory is re-derived here from the recorded events, independently of the domain
model's code (which is what wrote them), and checked after every event:

- `oversold`: a ticket type's sold + held rose above its stock at some version;
- `inventory`: a hold confirmed, released or refunded that did not exist, or held twice;
- `version_gap`: an aggregate's versions are not 1, 2, 3, … in its log;
- `unreadable`: a stored event that cannot be decoded;
- `paid_without_tickets`: a paid order without a confirmed hold of the same quantity;
- `tickets_without_payment`: tickets confirmed for an order that is not paid;
- `hold_outlives_order`: a hold still open although its order ended, or past its expiry;
- `revenue`: the insights read model's revenue differs from the sum of the paid orders;
- `read_model`: a Redis document differs from the same document replayed from history.

Moves that a running system makes in two steps (a saga confirming tickets, then marking the
order paid) are only reported once they have stayed half-done for longer than `grace`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from services.audit.sources import PAYMENTS_LOG, TICKETS_LOG, EventSources
from services.common.application import utc_now

DEFAULT_GRACE = timedelta(seconds=60)
OPEN_ORDER_STATUSES = frozenset({"placed", "pending"})
Progress = Callable[[str, int, int], None]  # (log, notification id reached, head)


@dataclass(frozen=True)
class Violation:
    """One broken rule, named so that an auditor can find it."""

    check: str
    detail: str
    aggregate_id: str | None = None
    version: int | None = None
    key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "detail": self.detail,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "key": self.key,
        }


@dataclass
class Ledger:
    """A ticket type's inventory as the auditor derives it."""

    event_id: str
    category: str
    total_stock: int
    sold: int = 0
    held: int = 0
    holds: dict[str, tuple[int, datetime, datetime]] = field(default_factory=dict)
    sold_by_order: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    oversold_reported: bool = False


@dataclass
class OrderRecord:
    """An order as the auditor derives it."""

    event_id: str
    ticket_id: str
    quantity: int
    total_minor: int
    currency: str
    status: str = "placed"
    changed_at: datetime | None = None


@dataclass
class Report:
    """What verification found."""

    checked_events: int = 0
    streams: int = 0
    violations: list[Violation] = field(default_factory=list)
    read_models: str = "not checked"
    seconds: float = 0.0
    positions: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked_events": self.checked_events,
            "violations": [v.as_dict() for v in self.violations],
            "streams": self.streams,
            "read_models": self.read_models,
            "positions": self.positions,
            "seconds": round(self.seconds, 3),
        }


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while the ledgers grow.

    A replay keeps hundreds of thousands of small records alive and creates no cycles; with the
    collector on, each full collection walks all of them again, and a million-event replay
    spent most of its time there.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Replay:
    """One pass over both logs, folding them into ledgers and order records."""

    def __init__(
        self,
        sources: EventSources,
        *,
        now: datetime,
        grace: timedelta = DEFAULT_GRACE,
        progress: Progress | None = None,
    ) -> None:
        self.sources = sources
        self.now = now
        self.grace = grace
        self.progress = progress
        self.report = Report()
        self.versions: dict[str, int] = {}
        self.ledgers: dict[str, Ledger] = {}
        self.orders: dict[str, OrderRecord] = {}

    def run(self, stops: dict[str, int] | None = None) -> Report:
        """Replay both logs (up to stops, inclusive, if given) and check everything."""
        started = time.perf_counter()
        with no_cycle_collection():
            for log, fold in ((TICKETS_LOG, self.fold_ticket), (PAYMENTS_LOG, self.fold_order)):
                head = stops[log] if stops is not None else self.sources.head(log)
                self.report.positions[log] = head
                if head:
                    self.replay_log(log, head, fold)
            self.check_orders_against_inventory()
        self.report.streams = len(self.versions)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def violation(self, check: str, detail: str, **where: Any) -> None:
        self.report.violations.append(Violation(check, detail, **where))

    def replay_log(self, log: str, head: int, fold: Callable[[Any], None]) -> None:
        mapper = self.sources.logs[log].mapper
        done = 0
        for notification in self.sources.notifications(log, 1, head):
            done += 1
            self.report.checked_events += 1
            aggregate_id = str(notification.originator_id)
            try:
                event = mapper.to_domain_event(notification)
            except Exception as error:  # any record that cannot be decoded is the finding
                self.violation(
                    "unreadable",
                    f"{log} notification {notification.id} ({notification.topic}) cannot be "
                    f"decoded: {error}",
                    aggregate_id=aggregate_id,
                    version=notification.originator_version,
                )
                continue
            self.check_version(aggregate_id, event.originator_version)
            fold(event)
            if self.progress is not None and done % 1000 == 0:
                self.progress(log, notification.id, head)
        if self.progress is not None:
            self.progress(log, head, head)

    def check_version(self, aggregate_id: str, version: int) -> None:
        expected = self.versions.get(aggregate_id, 0) + 1
        if version != expected:
            self.violation(
                "version_gap",
                f"version {version} recorded where version {expected} was due",
                aggregate_id=aggregate_id,
                version=version,
            )
        self.versions[aggregate_id] = max(version, self.versions.get(aggregate_id, 0))

    # -- the tickets log ------------------------------------------------------------------------

    def fold_ticket(self, event: Any) -> None:
        kind = type(event).__qualname__
        if not kind.startswith("TicketType."):
            return
        ticket_id = str(event.originator_id)
        if kind == "TicketType.Created":
            self.ledgers[ticket_id] = Ledger(
                event_id=str(event.event_id),
                category=event.category,
                total_stock=event.total_stock,
            )
            return
        ledger = self.ledgers.get(ticket_id)
        if ledger is None:
            return  # its Created is missing: reported as a version gap
        move = self.INVENTORY_MOVES.get(kind)
        if move is not None:
            problem = move(ledger, event)
            if problem:
                self.violation(
                    "inventory", problem, aggregate_id=ticket_id, version=event.originator_version
                )
                return
        if ledger.sold + ledger.held > ledger.total_stock and not ledger.oversold_reported:
            ledger.oversold_reported = True
            self.violation(
                "oversold",
                f"{ledger.category}: {ledger.sold} sold + {ledger.held} held exceeds the stock "
                f"of {ledger.total_stock} after {type(event).__name__} at {event.timestamp}",
                aggregate_id=ticket_id,
                version=event.originator_version,
            )

    @staticmethod
    def change_stock(ledger: Ledger, event: Any) -> str | None:
        ledger.total_stock = event.total_stock
        return None

    @staticmethod
    def hold(
        ledger: Ledger, order_id: str, quantity: int, expires_at: datetime, held_at: datetime
    ) -> str | None:
        if order_id in ledger.holds or order_id in ledger.sold_by_order:
            return f"order {order_id} held twice"
        ledger.holds[order_id] = (quantity, expires_at, held_at)
        ledger.held += quantity
        return None

    @staticmethod
    def reserve(ledger: Ledger, event: Any) -> str | None:
        return Replay.hold(
            ledger, event.order_id, event.quantity, event.expires_at, event.timestamp
        )

    @staticmethod
    def reserve_many(ledger: Ledger, event: Any) -> str | None:
        problems = [
            Replay.hold(ledger, order_id, quantity, expires_at, event.timestamp)
            for order_id, quantity, expires_at in event.holds
        ]
        return "; ".join(problem for problem in problems if problem) or None

    @staticmethod
    def confirm(ledger: Ledger, event: Any) -> str | None:
        hold = ledger.holds.pop(event.order_id, None)
        if hold is None:
            return f"order {event.order_id} confirmed without a hold"
        ledger.held -= hold[0]
        ledger.sold += hold[0]
        ledger.sold_by_order[event.order_id] = (hold[0], event.timestamp)
        return None

    @staticmethod
    def release(ledger: Ledger, event: Any) -> str | None:
        hold = ledger.holds.pop(event.order_id, None)
        if hold is None:
            return f"order {event.order_id} released without a hold"
        ledger.held -= hold[0]
        return None

    @staticmethod
    def refund(ledger: Ledger, event: Any) -> str | None:
        sale = ledger.sold_by_order.pop(event.order_id, None)
        if sale is None:
            return f"order {event.order_id} refunded but never sold"
        ledger.sold -= sale[0]
        return None

    INVENTORY_MOVES: ClassVar[dict[str, Callable[[Ledger, Any], str | None]]] = {
        "TicketType.StockChanged": change_stock,
        "TicketType.Reserved": reserve,
        "TicketType.HoldsReserved": reserve_many,
        "TicketType.Confirmed": confirm,
        "TicketType.Released": release,
        "TicketType.Expired": release,
        "TicketType.Refunded": refund,
    }

    # -- the payments log -----------------------------------------------------------------------

    def fold_order(self, event: Any) -> None:
        kind = type(event).__qualname__
        if not kind.startswith("Order."):
            return
        order_id = str(event.originator_id)
        if kind == "Order.Placed":
            total = event.unit_price * event.quantity
            self.orders[order_id] = OrderRecord(
                event_id=str(event.event_id),
                ticket_id=str(event.ticket_id),
                quantity=event.quantity,
                total_minor=total.minor,
                currency=total.currency,
                # Placed already held (one event for a rush's new order) is pending; Placed
                # events stored before that carry no hold_expires_at.
                status="placed" if getattr(event, "hold_expires_at", None) is None else "pending",
                changed_at=event.timestamp,
            )
            return
        record = self.orders.get(order_id)
        if record is None:
            return  # its Placed is missing: reported as a version gap
        status = {
            "Order.Held": "pending",
            "Order.Rejected": "rejected",
            "Order.Paid": "paid",
            "Order.Failed": "failed",
            "Order.Expired": "expired",
            "Order.Refunded": "refunded",
        }.get(kind)
        if status is not None:
            record.status = status
            record.changed_at = event.timestamp

    # -- across the two logs --------------------------------------------------------------------

    def settled_long_ago(self, moment: datetime | None) -> bool:
        return moment is None or self.now - moment > self.grace

    def check_orders_against_inventory(self) -> None:
        for order_id, order in self.orders.items():
            if order.status != "paid":
                continue
            ledger = self.ledgers.get(order.ticket_id)
            sale = ledger.sold_by_order.get(order_id) if ledger else None
            if (sale is None or sale[0] != order.quantity) and self.settled_long_ago(
                order.changed_at
            ):
                confirmed = "no confirmed hold" if sale is None else f"{sale[0]} confirmed"
                self.violation(
                    "paid_without_tickets",
                    f"order {order_id} is paid for {order.quantity} tickets but has {confirmed}",
                    aggregate_id=order_id,
                )
        for ticket_id, ledger in self.ledgers.items():
            for order_id, (quantity, confirmed_at) in ledger.sold_by_order.items():
                order = self.orders.get(order_id)
                if (order is None or order.status != "paid") and self.settled_long_ago(
                    confirmed_at
                ):
                    status = order.status if order else "unknown"
                    self.violation(
                        "tickets_without_payment",
                        f"{quantity} tickets confirmed for order {order_id}, which is {status}",
                        aggregate_id=ticket_id,
                    )
            for order_id, (quantity, expires_at, _held_at) in ledger.holds.items():
                self.check_open_hold(ticket_id, order_id, quantity, expires_at)

    def check_open_hold(
        self, ticket_id: str, order_id: str, quantity: int, expires_at: datetime
    ) -> None:
        order = self.orders.get(order_id)
        if order is not None and order.status not in OPEN_ORDER_STATUSES:
            if self.settled_long_ago(order.changed_at):
                self.violation(
                    "hold_outlives_order",
                    f"{quantity} tickets still held for order {order_id}, which is {order.status}",
                    aggregate_id=ticket_id,
                )
        elif self.now - expires_at > self.grace:
            self.violation(
                "hold_outlives_order",
                f"{quantity} tickets held for order {order_id} past the hold's expiry at "
                f"{expires_at.isoformat()}",
                aggregate_id=ticket_id,
            )

    def paid_revenue(self) -> dict[str, dict[str, int]]:
        """Minor units of paid orders per event and currency."""
        revenue: dict[str, dict[str, int]] = {}
        for order in self.orders.values():
            if order.status == "paid":
                by_currency = revenue.setdefault(order.event_id, {})
                by_currency[order.currency] = by_currency.get(order.currency, 0) + order.total_minor
        return revenue


def fold_ticket_events(events: Iterable[Any], now: datetime) -> Replay:
    """The auditor's ledgers and findings over given tickets events (no store involved)."""
    replay = Replay(None, now=now)  # type: ignore[arg-type]
    for event in events:
        replay.report.checked_events += 1
        replay.check_version(str(event.originator_id), event.originator_version)
        replay.fold_ticket(event)
    return replay


def replay_and_check(
    sources: EventSources,
    *,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
    progress: Progress | None = None,
    stops: dict[str, int] | None = None,
) -> Replay:
    """Replay both logs and run every check that needs only the event stores."""
    replay = Replay(sources, now=now or utc_now(), grace=grace, progress=progress)
    replay.run(stops)
    return replay
