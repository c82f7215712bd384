"""PreparedJSONTranscoder writes exactly what the library's JSONTranscoder writes, for any
state, from any number of threads, and refuses what it refuses."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given
from hypothesis import strategies as st

from domain.money import Money
from domain.order import OrderStatus
from domain.ticket_type import Hold
from services.common.application import TicketingApplication
from services.common.transcodings import PreparedJSONTranscoder, register_domain_transcodings


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    Application.register_transcodings(None, transcoder)  # type: ignore[arg-type]  # UUID, Decimal, datetime
    register_domain_transcodings(transcoder)
    return transcoder


LIBRARY, OURS = registered(JSONTranscoder()), registered(PreparedJSONTranscoder())
SINCE_1971 = datetime(1971, 1, 1)  # noqa: DTZ001 (hypothesis takes naive bounds)


class Label(str):
    """A str subclass: json writes it as a string."""


leaves = st.one_of(
    st.text(),
    st.text().map(Label),
    st.integers(),
    st.floats(),  # NaN and infinities too
    st.booleans(),
    st.none(),
    st.uuids(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=3))])),
    st.builds(Money, st.integers(0, 10**12), st.sampled_from(["KES", "USD"])),
    st.builds(Hold, st.integers(1, 10), st.datetimes(min_value=SINCE_1971, timezones=st.just(UTC))),
    st.sampled_from(OrderStatus),
    st.decimals(allow_nan=False),
)
states = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.dictionaries(st.integers() | st.booleans() | st.none(), inner, max_size=2),
    ),
    max_leaves=20,
)


@given(states)
def test_any_state_is_written_exactly_as_the_library_writes_it(state):
    assert OURS.encode(state) == LIBRARY.encode(state)


def test_what_the_library_refuses_is_refused_alike():
    class Unregistered(Enum):
        A = 1

    for state in ({"s": {1, 2}}, {"b": b"x"}, {"e": Unregistered.A}, {(1, 2): "tuple key"}):
        with pytest.raises(Exception) as expected:  # noqa: PT011 (whatever the library raises)
            LIBRARY.encode(state)
        with pytest.raises(expected.type):
            OURS.encode(state)
    with pytest.raises(TranscodingNotRegisteredError):
        OURS.encode({"when": datetime(2027, 1, 1, tzinfo=UTC).date()})
    lone = {"s": "\ud800"}
    with pytest.raises(UnicodeEncodeError):
        OURS.encode(lone)
    looped: dict = {}
    looped["self"] = looped
    with pytest.raises(RecursionError):  # the library: ValueError; no event contains itself
        OURS.encode(looped)


def test_one_transcoder_serves_many_threads_at_once():
    items = [
        {"id": uuid.uuid4(), "n": n, "nested": [{"k": uuid.uuid4()}] * (n % 5)} for n in range(400)
    ]
    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(OURS.encode, items))
    assert written == [LIBRARY.encode(item) for item in items]


def test_the_applications_use_it_and_read_what_it_wrote(tmp_path):
    app = TicketingApplication(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")}
    )
    try:
        assert type(app.mapper.transcoder) is PreparedJSONTranscoder
        state = {"id": uuid.uuid4(), "price": Money(2500, "KES"), "status": OrderStatus.PAID}
        assert app.mapper.transcoder.decode(app.mapper.transcoder.encode(state)) == state
    finally:
        app.close()
