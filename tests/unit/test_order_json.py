"""The hot path's order JSON is byte for byte what the FastAPI route's model writes."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from command_api import translate
from protos.ticketing.v1 import common_pb2, payments_pb2
from services.common.protobuf import timestamp

texts = st.text(max_size=40)
# Hypothesis takes naive bounds for aware datetimes.
LOWEST, HIGHEST = datetime(1970, 1, 2), datetime(9998, 12, 31)  # noqa: DTZ001
instants = st.datetimes(min_value=LOWEST, max_value=HIGHEST, timezones=st.just(UTC))


@st.composite
def orders(draw: st.DrawFn) -> payments_pb2.Order:
    payment = payments_pb2.Payment(
        payment_ref=draw(st.sampled_from(["", "sbx_1234567890abcdef"])),
        checkout_url=draw(st.sampled_from(["", "http://127.0.0.1:8000/sandbox/checkout/sbx_1"])),
    )
    expires = draw(st.none() | instants)
    if expires is not None:
        payment.expires_at.CopyFrom(timestamp(expires))
    return payments_pb2.Order(
        id=draw(st.uuids()).hex, event_id=str(draw(st.uuids())), ticket_id=draw(texts),
        quantity=draw(st.integers(0, 10)), email=draw(texts), phone_number=draw(texts),
        total_amount=common_pb2.Money(
            minor_units=draw(st.integers(0, 10**12)),
            currency=draw(st.sampled_from(["KES", "USD", "EUR"])),
        ),
        status=draw(st.sampled_from(sorted(translate.ORDER_STATUS))),
        payment=payment, order_token=draw(texts),
    )  # fmt: skip


@given(orders())
def test_the_hot_paths_json_is_the_models(message: payments_pb2.Order) -> None:
    assert translate.order_json(message) == translate.order(message).model_dump_json().encode()
