"""Translations between protobuf messages and domain values, shared by every servicer."""

from __future__ import annotations

from datetime import UTC, datetime
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


def timestamp(value: datetime) -> Timestamp:
    """An aware datetime as a protobuf Timestamp."""
    message = Timestamp()
    message.FromDatetime(value)
    return message


def parse_time(name: str, message: Timestamp) -> datetime:
    """A required Timestamp field as an aware UTC datetime."""
    if message.seconds == 0 and message.nanos == 0:
        raise BadRequestError(f"{name} is required")
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise BadRequestError(f"{name} is out of range") from None


def money(value: Money) -> common_pb2.Money:
    """Money as its protobuf message."""
    return common_pb2.Money(minor_units=value.minor, currency=value.currency)


def parse_money(message: common_pb2.Money) -> Money:
    """A Money message as Money (the domain refuses negative amounts and bad currencies)."""
    return Money(message.minor_units, message.currency)
