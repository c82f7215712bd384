"""TicketType: one category of tickets for a concert, and the inventory that must never oversell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.concert import MAX_TITLE_LENGTH, check_aware, check_text
from domain.errors import (
    CurrencyMismatchError,
    HoldEndedError,
    HoldNotExpiredError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    NoSuchHoldError,
    NotFoundError,
    NotOnSaleError,
    SoldOutError,
    StockBelowCommittedError,
    TicketingError,
)
from domain.money import Money

MAX_STOCK = 10_000_000


@dataclass(frozen=True, slots=True)
class Hold:
    """Tickets set aside for an order until it is paid or the hold expires."""

    quantity: int
    expires_at: datetime


def check_count(name: str, value: int, minimum: int) -> None:
    """Refuse counts that are not whole numbers within range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{name} must be a whole number")
    if not minimum <= value <= MAX_STOCK:
        raise InvalidValueError(f"{name} must be between {minimum} and {MAX_STOCK}")


def check_window(sales_start: datetime, sales_end: datetime) -> None:
    """A sales window is two aware times, the start before the end."""
    check_aware("sales_start", sales_start)
    check_aware("sales_end", sales_end)
    if sales_start >= sales_end:
        raise InvalidValueError("sales_start must be before sales_end")


class TicketType(Aggregate):
    """A category of tickets (price, stock, sales window) and its holds and sales.

    Invariant: sold + held <= total_stock at every version. Reserve, confirm, release,
    expire and refund are idempotent per order id, so a retried command changes nothing.
    """

    @event("Created")
    def __init__(
        self,
        event_id: UUID,
        category: str,
        price: Money,
        total_stock: int,
        sales_start: datetime,
        sales_end: datetime,
        concert_active: bool,
        created_by: str,
    ) -> None:
        check_text("category", category, MAX_TITLE_LENGTH)
        if not isinstance(price, Money):
            raise InvalidValueError("price must be money")
        check_count("total_stock", total_stock, 0)
        check_window(sales_start, sales_end)
        self.event_id = event_id
        self.category = category
        self.price = price
        self.total_stock = total_stock
        self.sales_start = sales_start
        self.sales_end = sales_end
        self.concert_active = concert_active
        self.created_by = created_by
        self.deleted = False
        self.sold = 0
        self.held = 0
        self.holds: dict[str, Hold] = {}
        self.sold_by_order: dict[str, int] = {}
        self.ended_holds: dict[str, str] = {}
        self.ever_held = False

    # -- reading --------------------------------------------------------------------------------

    @property
    def remaining(self) -> int:
        """Tickets neither sold nor held."""
        return self.total_stock - self.sold - self.held

    def in_sales_window(self, now: datetime) -> bool:
        """Whether now is inside [sales_start, sales_end)."""
        return self.sales_start <= now < self.sales_end

    def is_on_sale(self, now: datetime) -> bool:
        """Whether a customer could buy at least one ticket now."""
        return (
            not self.deleted
            and self.concert_active
            and self.in_sales_window(now)
            and self.remaining > 0
        )

    # -- admin commands -------------------------------------------------------------------------

    def update(
        self,
        by: str,
        price: Money | None = None,
        total_stock: int | None = None,
        sales_start: datetime | None = None,
        sales_end: datetime | None = None,
    ) -> None:
        """Apply any of an admin's changes together: all of them, or none if one is refused."""
        self.check_not_deleted()
        start, end = sales_start or self.sales_start, sales_end or self.sales_end
        if price is not None:
            self.check_price(price)
        if total_stock is not None:
            self.check_stock(total_stock)
        check_window(start, end)
        if price is not None:
            self.change_price(price, by)
        if total_stock is not None:
            self.change_stock(total_stock, by)
        self.change_sales_window(start, end, by)

    def change_price(self, price: Money, by: str) -> None:
        """Set a new price for tickets sold from now on; the currency stays."""
        self.check_not_deleted()
        self.check_price(price)
        if price != self.price:
            self._change_price(price=price, by=by)

    @event("PriceChanged")
    def _change_price(self, price: Money, by: str) -> None:
        self.price = price

    def change_stock(self, total_stock: int, by: str) -> None:
        """Grow or shrink the stock, never below what is sold or held."""
        self.check_not_deleted()
        self.check_stock(total_stock)
        if total_stock != self.total_stock:
            self._change_stock(total_stock=total_stock, by=by)

    @event("StockChanged")
    def _change_stock(self, total_stock: int, by: str) -> None:
        self.total_stock = total_stock

    def change_sales_window(self, sales_start: datetime, sales_end: datetime, by: str) -> None:
        """Move the sales window."""
        self.check_not_deleted()
        check_window(sales_start, sales_end)
        if (sales_start, sales_end) != (self.sales_start, self.sales_end):
            self._change_sales_window(sales_start=sales_start, sales_end=sales_end, by=by)

    @event("SalesWindowChanged")
    def _change_sales_window(self, sales_start: datetime, sales_end: datetime, by: str) -> None:
        self.sales_start = sales_start
        self.sales_end = sales_end

    def note_concert_status(self, concert_active: bool) -> None:
        """Follow the concert: only an active concert's tickets are on sale."""
        if concert_active != self.concert_active:
            self._note_concert_status(concert_active=concert_active)

    @event("ConcertStatusNoted")
    def _note_concert_status(self, concert_active: bool) -> None:
        self.concert_active = concert_active

    def delete(self, by: str) -> None:
        """Withdraw the ticket type with its concert; only allowed if nothing was ever held."""
        self.check_not_deleted()
        if self.ever_held:
            raise InvalidValueError("a ticket type that sold or held tickets cannot be deleted")
        self._delete(by=by)

    @event("Deleted")
    def _delete(self, by: str) -> None:
        self.deleted = True

    # -- inventory commands ---------------------------------------------------------------------

    def reserve(self, order_id: str, quantity: int, expires_at: datetime, now: datetime) -> None:
        """Hold tickets for an order; a repeat for the same order changes nothing.

        An order id names one request (its Idempotency-Key and buyer): a repeat asking for
        another quantity than the order holds or bought is a different request under that
        key, refused as such rather than taken as the same hold.
        """
        if self._check_reserve(order_id, quantity, expires_at, now, {}, 0):
            self._reserve(order_id=order_id, quantity=quantity, expires_at=expires_at)

    def reserve_many(
        self, requests: Sequence[tuple[str, int, datetime]], now: datetime
    ) -> list[TicketingError | None]:
        """`reserve` each (order id, quantity, expiry) in turn, recording the new holds as
        one HoldsReserved event; each request's refusal, or None, in order.

        A rush's holds arrive in batches: one event per batch instead of one per hold saves
        the event's encoding, row and decoding per hold. Each request is decided on the state
        its predecessors in the batch left, exactly as one `reserve` after another would.
        """
        staged: dict[str, Hold] = {}
        staged_quantity = 0
        outcomes: list[TicketingError | None] = []
        for order_id, quantity, expires_at in requests:
            try:
                new = self._check_reserve(
                    order_id, quantity, expires_at, now, staged, staged_quantity
                )
            except TicketingError as refused:
                outcomes.append(refused)
                continue
            if new:
                staged[order_id] = Hold(quantity, expires_at)
                staged_quantity += quantity
            outcomes.append(None)
        if staged:
            holds = [[order, hold.quantity, hold.expires_at] for order, hold in staged.items()]
            self._reserve_many(holds=holds)
        return outcomes

    def _check_reserve(
        self,
        order_id: str,
        quantity: int,
        expires_at: datetime,
        now: datetime,
        staged: dict[str, Hold],
        staged_quantity: int,
    ) -> bool:
        """Whether the order's hold is new (False: a repeat, which changes nothing), or the
        refusal, with `staged` holds (of `staged_quantity` tickets) counted as already made."""
        if order_id in self.holds:
            committed: int | None = self.holds[order_id].quantity
        elif order_id in staged:
            committed = staged[order_id].quantity
        else:
            committed = self.sold_by_order.get(order_id)
        if committed is not None:
            if committed != quantity:
                raise IdempotencyKeyReusedError(
                    f"order {order_id} already holds {committed} tickets of this type, "
                    f"not {quantity}: its Idempotency-Key was used with a different request"
                )
            return False
        if order_id in self.ended_holds:
            raise HoldEndedError(
                f"the hold of order {order_id} was already {self.ended_holds[order_id]}"
            )
        self.check_not_deleted()
        check_count("quantity", quantity, 1)
        check_aware("expires_at", expires_at)
        if not self.concert_active:
            raise NotOnSaleError("the concert is not active")
        if not self.in_sales_window(now):
            raise NotOnSaleError("tickets are not on sale at this time")
        remaining = self.remaining - staged_quantity
        if quantity > remaining:
            raise SoldOutError(f"{remaining} tickets remain, {quantity} asked for")
        return True

    @event("Reserved")
    def _reserve(self, order_id: str, quantity: int, expires_at: datetime) -> None:
        self.holds[order_id] = Hold(quantity, expires_at)
        self.held += quantity
        self.ever_held = True

    @event("HoldsReserved")
    def _reserve_many(self, holds: list[list[Any]]) -> None:
        """Each [order id, quantity, expiry] held, as Reserved would (stored as lists)."""
        for order_id, quantity, expires_at in holds:
            self.holds[order_id] = Hold(quantity, expires_at)
            self.held += quantity
        self.ever_held = True

    def confirm(self, order_id: str) -> None:
        """Turn an order's hold into sold tickets, even after its expiry time if still held."""
        if order_id in self.sold_by_order:
            return
        self.check_hold(order_id)
        self._confirm(order_id=order_id)

    @event("Confirmed")
    def _confirm(self, order_id: str) -> None:
        hold = self.holds.pop(order_id)
        self.held -= hold.quantity
        self.sold += hold.quantity
        self.sold_by_order[order_id] = hold.quantity

    def release(self, order_id: str) -> None:
        """Give an unpaid order's held tickets back (payment declined or order abandoned)."""
        if self.ended_holds.get(order_id) == "released":
            return
        self.check_hold(order_id)
        self._release(order_id=order_id)

    @event("Released")
    def _release(self, order_id: str) -> None:
        self.held -= self.holds.pop(order_id).quantity
        self.ended_holds[order_id] = "released"

    def expire(self, order_id: str, now: datetime) -> None:
        """Give held tickets back once the hold has run out."""
        if self.ended_holds.get(order_id) == "expired":
            return
        self.check_hold(order_id)
        if now < self.holds[order_id].expires_at:
            raise HoldNotExpiredError(
                f"the hold of order {order_id} runs until {self.holds[order_id].expires_at}"
            )
        self._expire(order_id=order_id)

    @event("Expired")
    def _expire(self, order_id: str) -> None:
        self.held -= self.holds.pop(order_id).quantity
        self.ended_holds[order_id] = "expired"

    def refund(self, order_id: str) -> None:
        """Put a refunded order's sold tickets back on sale."""
        if self.ended_holds.get(order_id) == "refunded":
            return
        if order_id not in self.sold_by_order:
            raise NoSuchHoldError(f"order {order_id} bought no tickets of this type")
        self._refund(order_id=order_id)

    @event("Refunded")
    def _refund(self, order_id: str) -> None:
        self.sold -= self.sold_by_order.pop(order_id)
        self.ended_holds[order_id] = "refunded"

    # -- guards ---------------------------------------------------------------------------------

    def check_price(self, price: Money) -> None:
        """A price is money in the ticket type's own currency."""
        if not isinstance(price, Money):
            raise InvalidValueError("price must be money")
        if price.currency != self.price.currency:
            raise CurrencyMismatchError(
                f"price must stay in {self.price.currency}, not {price.currency}"
            )

    def check_stock(self, total_stock: int) -> None:
        """Stock is a count no lower than what is sold or held."""
        check_count("total_stock", total_stock, 0)
        if total_stock < self.sold + self.held:
            raise StockBelowCommittedError(
                f"total_stock {total_stock} is below the {self.sold} sold and {self.held} held"
            )

    def check_hold(self, order_id: str) -> None:
        """The order must currently hold tickets of this type."""
        if order_id in self.holds:
            return
        if order_id in self.ended_holds:
            raise HoldEndedError(
                f"the hold of order {order_id} was already {self.ended_holds[order_id]}"
            )
        if order_id in self.sold_by_order:
            raise HoldEndedError(f"order {order_id} was already confirmed")
        raise NoSuchHoldError(f"order {order_id} holds no tickets of this type")

    def check_not_deleted(self) -> None:
        """A deleted ticket type answers as if it never existed."""
        if self.deleted:
            raise NotFoundError(f"ticket type {self.id} not found")
