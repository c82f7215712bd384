"""Tickets: the tickets service's Application (concerts, ticket types, holds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from domain.concert import Concert, ConcertStatus
from domain.errors import InvalidValueError
from domain.money import Money
from domain.ticket_type import TicketType
from services.common.application import TicketingApplication


class Tickets(TicketingApplication):
    """Concerts and their ticket types; every inventory change goes through a TicketType."""

    snapshotted_types = (TicketType, Concert)

    # -- concerts -------------------------------------------------------------------------------

    def create_concert(
        self, title: str, description: str, location: str, date_time: datetime, by: str
    ) -> UUID:
        """Create an inactive concert."""
        concert = Concert(
            title=title,
            description=description,
            location=location,
            date_time=date_time,
            created_by=by,
        )
        self.save(concert)
        return concert.id

    def update_concert(self, concert_id: UUID, by: str, **changes: object) -> Concert:
        """Change a concert's title, description, location or date_time."""

        def command() -> Concert:
            concert = self.get_concert(concert_id)
            concert.update_details(by, **changes)  # type: ignore[arg-type]
            self.save(concert)
            return concert

        return self.run_command(command)

    def change_concert_status(self, concert_id: UUID, status: ConcertStatus, by: str) -> Concert:
        """Activate, deactivate or cancel; its ticket types follow in the same atomic save."""

        def command() -> Concert:
            concert = self.get_concert(concert_id)
            if concert.change_status(status, by):
                ticket_types = self.ticket_types_of(concert)
                for ticket_type in ticket_types:
                    ticket_type.note_concert_status(concert.is_active)
                self.save(concert, *ticket_types)
            return concert

        return self.run_command(command)

    def delete_concert(self, concert_id: UUID, by: str) -> None:
        """Delete a concert that never sold or held a ticket, with its ticket types."""

        def command() -> None:
            concert = self.get_concert(concert_id)
            ticket_types = self.ticket_types_of(concert)
            concert.delete(by, tickets_ever_held=any(t.ever_held for t in ticket_types))
            for ticket_type in ticket_types:
                ticket_type.delete(by)
            self.save(concert, *ticket_types)

        self.run_command(command)

    def get_concert(self, concert_id: UUID) -> Concert:
        """The concert, or NotFoundError (also once deleted)."""
        return self.load(concert_id, Concert)

    def ticket_types_of(self, concert: Concert) -> list[TicketType]:
        """Every live ticket type of a concert."""
        return [self.load(ticket_type_id, TicketType) for ticket_type_id in concert.ticket_type_ids]

    # -- ticket types ---------------------------------------------------------------------------

    def add_ticket_type(
        self,
        concert_id: UUID,
        category: str,
        price: Money,
        total_stock: int,
        sales_start: datetime,
        sales_end: datetime,
        by: str,
    ) -> UUID:
        """Create a ticket type and attach it to its concert in one atomic save."""

        def command() -> UUID:
            concert = self.get_concert(concert_id)
            ticket_type = TicketType(
                event_id=concert.id,
                category=category,
                price=price,
                total_stock=total_stock,
                sales_start=sales_start,
                sales_end=sales_end,
                concert_active=concert.is_active,
                created_by=by,
            )
            concert.add_ticket_type(ticket_type.id, by)
            self.save(concert, ticket_type)
            return ticket_type.id

        return self.run_command(command)

    def update_ticket_type(
        self,
        ticket_type_id: UUID,
        by: str,
        *,
        price: Money | None = None,
        total_stock: int | None = None,
        sales_start: datetime | None = None,
        sales_end: datetime | None = None,
    ) -> TicketType:
        """Change price, stock or sales window; stock never drops below sold + held."""

        def command() -> TicketType:
            ticket_type = self.get_ticket_type(ticket_type_id)
            ticket_type.update(by, price, total_stock, sales_start, sales_end)
            self.save(ticket_type)
            return ticket_type

        return self.run_command(command)

    def get_ticket_type(self, ticket_type_id: UUID) -> TicketType:
        """The ticket type, or NotFoundError."""
        return self.load(ticket_type_id, TicketType)

    # -- inventory ------------------------------------------------------------------------------

    def reserve(
        self, ticket_type_id: UUID, order_id: UUID, quantity: int, expires_at: datetime
    ) -> TicketType:
        """Hold tickets for an order until expires_at; a repeat changes nothing."""
        if expires_at <= self.clock():
            raise InvalidValueError("a hold must expire in the future")
        return self._inventory_command(
            ticket_type_id, lambda t: t.reserve(str(order_id), quantity, expires_at, self.clock())
        )

    def confirm(self, ticket_type_id: UUID, order_id: UUID) -> TicketType:
        """Turn an order's hold into sold tickets."""
        return self._inventory_command(ticket_type_id, lambda t: t.confirm(str(order_id)))

    def release(self, ticket_type_id: UUID, order_id: UUID) -> TicketType:
        """Give an unpaid order's tickets back."""
        return self._inventory_command(ticket_type_id, lambda t: t.release(str(order_id)))

    def expire(self, ticket_type_id: UUID, order_id: UUID) -> TicketType:
        """Give an order's tickets back once its hold has run out."""
        return self._inventory_command(
            ticket_type_id, lambda t: t.expire(str(order_id), self.clock())
        )

    def refund(self, ticket_type_id: UUID, order_id: UUID) -> TicketType:
        """Put a refunded order's tickets back on sale."""
        return self._inventory_command(ticket_type_id, lambda t: t.refund(str(order_id)))

    def _inventory_command(
        self, ticket_type_id: UUID, decide: Callable[[TicketType], None]
    ) -> TicketType:
        def command() -> TicketType:
            ticket_type = self.get_ticket_type(ticket_type_id)
            decide(ticket_type)
            self.save(ticket_type)
            return ticket_type

        return self.run_command(command)
