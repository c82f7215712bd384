"""Timestamps by arithmetic give exactly what protobuf's own conversions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import BadRequestError
from services.common.protobuf import (
    MAX_SECONDS,
    MIN_SECONDS,
    datetime_of,
    parse_time,
    timestamp,
)

offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
# Naive bounds, as hypothesis wants them: a day inside each end, whatever the offset.
FIRST, LAST = datetime(1, 1, 2), datetime(9999, 12, 30)  # noqa: DTZ001
aware = st.datetimes(min_value=FIRST, max_value=LAST, timezones=offsets)


@given(st.one_of(aware, st.datetimes()))
def test_a_datetime_becomes_the_timestamp_from_datetime_gives(value):
    expected = Timestamp()
    expected.FromDatetime(value)  # a naive one is read as UTC by both
    assert timestamp(value) == expected


@given(st.integers(MIN_SECONDS, MAX_SECONDS), st.integers(0, 999_999_999))
def test_a_timestamp_becomes_the_datetime_to_datetime_gives(seconds, nanos):
    message = Timestamp(seconds=seconds, nanos=nanos)
    ours = datetime_of(message)
    assert ours == message.ToDatetime(tzinfo=UTC)
    assert ours.tzinfo is UTC
    assert timestamp(ours) == Timestamp(seconds=seconds, nanos=nanos // 1000 * 1000)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(MAX_SECONDS + 1, 0), (MIN_SECONDS - 1, 0), (0, -1), (0, 1_000_000_000), (2**62, 0)],
)
def test_a_timestamp_out_of_range_is_refused_as_protobuf_refuses_it(seconds, nanos):
    message = Timestamp(seconds=seconds, nanos=nanos)
    with pytest.raises(ValueError, match=r"out of range|Timestamp is not valid|nanos"):
        message.ToDatetime(tzinfo=UTC)
    with pytest.raises(ValueError, match="out of range"):
        datetime_of(message)
    with pytest.raises(BadRequestError, match="expires_at is out of range"):
        parse_time("expires_at", message)


def test_a_datetime_outside_what_a_timestamp_holds_is_refused():
    with pytest.raises(ValueError, match="outside the range a Timestamp holds"):
        timestamp(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert timestamp(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == Timestamp(
        seconds=MAX_SECONDS, nanos=999_999_000
    )
