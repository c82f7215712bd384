"""Concert: what the seed calls an event; named so to keep clear of the library's events."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import HasSalesError, InvalidTransitionError, InvalidValueError, NotFoundError

MAX_TITLE_LENGTH = 200
MAX_TEXT_LENGTH = 5000


class ConcertStatus(Enum):
    """Where a concert stands: only an active concert sells tickets."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    CANCELLED = "cancelled"


def check_text(name: str, value: str, max_length: int, *, required: bool = True) -> None:
    """Refuse text that is empty (when required), too long, or not text at all."""
    if not isinstance(value, str):
        raise InvalidValueError(f"{name} must be text")
    if required and not value.strip():
        raise InvalidValueError(f"{name} must not be empty")
    if len(value) > max_length:
        raise InvalidValueError(f"{name} must be at most {max_length} characters")


def check_aware(name: str, value: datetime) -> None:
    """Refuse naive datetimes: every time in the system carries its offset."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(f"{name} must be a datetime with a UTC offset")


class Concert(Aggregate):
    """A concert that admins create, edit, activate, cancel or delete."""

    @event("Created")
    def __init__(
        self,
        title: str,
        description: str,
        location: str,
        date_time: datetime,
        created_by: str,
    ) -> None:
        check_text("title", title, MAX_TITLE_LENGTH)
        check_text("description", description, MAX_TEXT_LENGTH, required=False)
        check_text("location", location, MAX_TITLE_LENGTH)
        check_aware("date_time", date_time)
        self.title = title
        self.description = description
        self.location = location
        self.date_time = date_time
        self.created_by = created_by
        self.status = ConcertStatus.INACTIVE
        self.ticket_type_ids: list[UUID] = []
        self.deleted = False

    def update_details(
        self,
        by: str,
        *,
        title: str | None = None,
        description: str | None = None,
        location: str | None = None,
        date_time: datetime | None = None,
    ) -> None:
        """Change any of the concert's descriptive fields; a cancelled concert stays as it was."""
        self.check_not_deleted()
        self.check_not_cancelled("edit")

        def changed(name: str, value: object) -> bool:
            return value is not None and value != getattr(self, name)

        if any(
            changed(name, value)
            for name, value in (
                ("title", title),
                ("description", description),
                ("location", location),
                ("date_time", date_time),
            )
        ):
            self._update_details(
                by=by,
                title=title if changed("title", title) else None,
                description=description if changed("description", description) else None,
                location=location if changed("location", location) else None,
                date_time=date_time if changed("date_time", date_time) else None,
            )

    @event("DetailsUpdated")
    def _update_details(
        self,
        by: str,
        title: str | None = None,
        description: str | None = None,
        location: str | None = None,
        date_time: datetime | None = None,
    ) -> None:
        if title is not None:
            check_text("title", title, MAX_TITLE_LENGTH)
            self.title = title
        if description is not None:
            check_text("description", description, MAX_TEXT_LENGTH, required=False)
            self.description = description
        if location is not None:
            check_text("location", location, MAX_TITLE_LENGTH)
            self.location = location
        if date_time is not None:
            check_aware("date_time", date_time)
            self.date_time = date_time

    def change_status(self, status: ConcertStatus, by: str) -> bool:
        """Move between active and inactive, or cancel for good; says whether anything changed."""
        self.check_not_deleted()
        if not isinstance(status, ConcertStatus):
            raise InvalidValueError(f"unknown concert status {status!r}")
        if status == self.status:
            return False
        self.check_not_cancelled("change the status of")
        self._change_status(status=status, by=by)
        return True

    @event("StatusChanged")
    def _change_status(self, status: ConcertStatus, by: str) -> None:
        self.status = status

    def add_ticket_type(self, ticket_type_id: UUID, by: str) -> None:
        """Record that a ticket type now belongs to this concert."""
        self.check_not_deleted()
        self.check_not_cancelled("add tickets to")
        self._add_ticket_type(ticket_type_id=ticket_type_id, by=by)

    @event("TicketTypeAdded")
    def _add_ticket_type(self, ticket_type_id: UUID, by: str) -> None:
        self.ticket_type_ids.append(ticket_type_id)

    def delete(self, by: str, *, tickets_ever_held: bool) -> None:
        """Remove a concert that never sold or held a ticket; otherwise it must be cancelled."""
        self.check_not_deleted()
        if tickets_ever_held:
            raise HasSalesError("tickets of this concert were sold or held: cancel it instead")
        self._delete(by=by)

    @event("Deleted")
    def _delete(self, by: str) -> None:
        self.deleted = True

    @property
    def is_active(self) -> bool:
        """Whether the concert sells tickets at all."""
        return self.status is ConcertStatus.ACTIVE and not self.deleted

    def check_not_deleted(self) -> None:
        """A deleted concert answers as if it never existed."""
        if self.deleted:
            raise NotFoundError(f"concert {self.id} not found")

    def check_not_cancelled(self, action: str) -> None:
        """Cancelled is final."""
        if self.status is ConcertStatus.CANCELLED:
            raise InvalidTransitionError(f"cannot {action} a cancelled concert")
