"""Stored events as an auditor reads them: plain JSON with the aggregate, version and actor."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from domain.money import Money

# What every domain event carries besides its own data.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
# The attribute in which a command's event records who gave the command (the JWT subject).
ACTOR_FIELDS = ("by", "created_by")


@dataclass(frozen=True)
class AuditEvent:
    """One recorded event: which aggregate, which version, what happened, when, and by whom."""

    log: str  # the service whose log holds it ("tickets" or "payments")
    aggregate_id: str
    aggregate_type: str
    version: int
    type: str
    timestamp: datetime
    data: dict[str, Any]
    notification_id: int | None = None

    @property
    def actor(self) -> str | None:
        for name in ACTOR_FIELDS:
            value = self.data.get(name)
            if isinstance(value, str):
                return value
        return None

    def as_stream_item(self) -> dict[str, Any]:
        """An item of GET /audit/streams/{id}."""
        return {
            "version": self.version,
            "type": self.type,
            "timestamp": self.timestamp.isoformat(),
            "actor": self.actor,
            "data": self.data,
        }

    def as_log_item(self, position: int) -> dict[str, Any]:
        """An item of GET /audit/log and of `ticketing audit export`."""
        return {
            "position": position,
            "service": self.log,
            "aggregate_id": self.aggregate_id,
            "aggregate_type": self.aggregate_type,
            "version": self.version,
            "type": self.type,
            "timestamp": self.timestamp.isoformat(),
            "actor": self.actor,
            "data": self.data,
        }


def audit_event(log: str, domain_event: Any, notification_id: int | None = None) -> AuditEvent:
    """The auditor's view of a domain event decoded by an application's mapper."""
    aggregate_type, _, event_type = type(domain_event).__qualname__.rpartition(".")
    data = {
        name: plain(value)
        for name, value in vars(domain_event).items()
        if name not in ENVELOPE and not name.startswith("_")
    }
    return AuditEvent(
        log=log,
        aggregate_id=str(domain_event.originator_id),
        aggregate_type=aggregate_type or event_type,
        version=domain_event.originator_version,
        type=event_type,
        timestamp=domain_event.timestamp,
        data=data,
        notification_id=notification_id,
    )


def plain(value: Any) -> Any:  # noqa: PLR0911 (one return per kind of value)
    """A JSON-ready copy of an event attribute: ids and times as strings, money as decimals."""
    if isinstance(value, Money):
        return {"amount": str(value), "currency": value.currency}
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value
