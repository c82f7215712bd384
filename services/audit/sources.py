"""The event stores an auditor reads: the tickets and payments applications' own records.

Reading goes through each application's recorder and mapper (the same transcodings that wrote
the events), never through the services' gRPC APIs, so what is checked is what was stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from services.audit.records import AuditEvent, audit_event
from services.common.settings import Settings
from services.payments.application import Orders
from services.tickets.application import Tickets

TICKETS_LOG = "tickets"
PAYMENTS_LOG = "payments"
PAGE = 1000  # the applications' log_section_size


@dataclass
class EventSources:
    """Both event-sourced services' stores, opened for reading."""

    tickets: Tickets
    orders: Orders

    @classmethod
    def open(cls, settings: Settings) -> EventSources:
        return cls(
            tickets=Tickets(env=settings.event_store_env("tickets")),
            orders=Orders(env=settings.event_store_env("payments")),
        )

    def close(self) -> None:
        self.tickets.close()
        self.orders.close()

    @property
    def logs(self) -> dict[str, Application[UUID]]:
        """Each log by name, in a fixed order."""
        return {TICKETS_LOG: self.tickets, PAYMENTS_LOG: self.orders}

    def stream(self, aggregate_id: UUID) -> list[AuditEvent]:
        """Every event of one aggregate in version order (empty when no service has it)."""
        for name, app in self.logs.items():
            events = [audit_event(name, e) for e in app.repository.event_store.get(aggregate_id)]
            if events:
                return events
        return []

    def head(self, log: str) -> int:
        """The log's last notification id (0 when empty)."""
        return self.logs[log].recorder.max_notification_id() or 0

    def decode(self, log: str, notification: Any) -> AuditEvent:
        """A notification of log as the auditor's event."""
        domain_event = self.logs[log].mapper.to_domain_event(notification)
        return audit_event(log, domain_event, notification.id)

    def notifications(self, log: str, start: int = 1, stop: int | None = None) -> Iterator[Any]:
        """The notifications of log from id start to stop (inclusive), page by page."""
        app = self.logs[log]
        position = start
        while True:
            page = app.notification_log.select(position, PAGE, stop=stop)
            yield from page
            if len(page) < PAGE:
                return
            position = page[-1].id + 1
