"""Translations between protobuf messages and domain values, shared by every servicer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from domain.money import Money
from protos.ticketing.v1 import common_pb2
from services.common.errors import BadRequestError


def parse_uuid(name: str, value: str) -> UUID:
    """A UUID field, or INVALID_ARGUMENT naming it."""
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise BadRequestError(f"{name} must be a UUID, not {value!r}") from None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What a Timestamp may hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799
NANOS_PER_SECOND = 1_000_000_000


def timestamp(value: datetime) -> Timestamp:
    """An aware datetime as a protobuf Timestamp (a naive one read as UTC).

    What `Timestamp.FromDatetime` gives, by arithmetic: its calendar.timegm of a UTC time
    tuple cost three times as much, and every order crosses a few of these
    (tests/unit/test_protobuf_times.py).
    """
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"{value!r} is outside the range a Timestamp holds")
    return Timestamp(seconds=seconds, nanos=delta.microseconds * 1000)


def datetime_of(message: Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime, as `ToDatetime(tzinfo=UTC)` gives it (ValueError
    for one outside the range a Timestamp holds), by arithmetic."""
    seconds, nanos = message.seconds, message.nanos
    if not (MIN_SECONDS <= seconds <= MAX_SECONDS and 0 <= nanos < NANOS_PER_SECOND):
        raise ValueError(f"Timestamp({seconds}, {nanos}) is out of range")
    return EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def parse_time(name: str, message: Timestamp) -> datetime:
    """A required Timestamp field as an aware UTC datetime."""
    if message.seconds == 0 and message.nanos == 0:
        raise BadRequestError(f"{name} is required")
    try:
        return datetime_of(message)
    except (ValueError, OverflowError):
        raise BadRequestError(f"{name} is out of range") from None


def money(value: Money) -> common_pb2.Money:
    """Money as its protobuf message."""
    return common_pb2.Money(minor_units=value.minor, currency=value.currency)


def parse_money(message: common_pb2.Money) -> Money:
    """A Money message as Money (the domain refuses negative amounts and bad currencies)."""
    return Money(message.minor_units, message.currency)
