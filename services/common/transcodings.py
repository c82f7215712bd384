"""How the domain's own value types are stored in events and snapshots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.concert import ConcertStatus
from domain.money import Money
from domain.order import OrderStatus
from domain.ticket_type import Hold

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class MoneyAsList(Transcoding):
    """Money as [minor units, currency]."""

    type = Money
    name = "money"

    def encode(self, obj: Money) -> list[Any]:
        return [obj.minor, obj.currency]

    def decode(self, data: list[Any]) -> Money:
        minor, currency = data
        return Money(minor, currency)


class HoldAsList(Transcoding):
    """A hold as [quantity, expiry in microseconds since the epoch].

    Compact and cheap, since a hot ticket type's snapshot carries every hold; the expiry
    comes back in UTC, the same instant.
    """

    type = Hold
    name = "hold"

    def encode(self, obj: Hold) -> list[Any]:
        return [obj.quantity, (obj.expires_at - EPOCH) // MICROSECOND]

    def decode(self, data: list[Any]) -> Hold:
        quantity, expires_at = data
        return Hold(quantity, EPOCH + timedelta(microseconds=expires_at))


class EnumAsValue(Transcoding):
    """An Enum member as its value; one instance per Enum class (an IntEnum would decay to int)."""

    def __init__(self, enum_type: type[Enum]) -> None:
        self.type = enum_type
        self.name = f"{enum_type.__module__}.{enum_type.__qualname__}"

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.type(data)


class PreparedJSONTranscoder(JSONTranscoder):
    """The library's JSONTranscoder, whose C encoder is made once instead of per event.

    `json.JSONEncoder.encode` builds a new C encoder (and a dict of the objects it has
    entered) for every call: about half of the ~26 us an order's Placed event took to encode.
    This one calls one C encoder made with the library's own settings, so the bytes are the
    same (tests/unit/test_transcoder.py). It keeps no such dict, which makes it safe to share
    between threads: a state that contains itself fails with RecursionError instead of
    ValueError, and no event's state does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encode: Callable[[Any, int], Sequence[str]] | None = None
        if c_make_encoder is not None:  # CPython's C accelerator (else: the library's encode)
            encoder = self.encoder
            self._encode = c_make_encoder(
                None, self._encode_obj, encode_basestring, None, encoder.key_separator,
                encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan,
            )  # fmt: skip

    def encode(self, obj: Any) -> bytes:
        if self._encode is None or isinstance(obj, str):
            return super().encode(obj)
        return "".join(self._encode(obj, 0)).encode("utf8")


def register_domain_transcodings(transcoder: JSONTranscoder) -> None:
    """Register every custom type the domain puts in events or aggregate state."""
    transcoder.register(MoneyAsList())
    transcoder.register(HoldAsList())
    for enum_type in (ConcertStatus, OrderStatus):
        transcoder.register(EnumAsValue(enum_type))
