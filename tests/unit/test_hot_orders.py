"""The gateway's fast POST /orders reader accepts only what the route's model accepts."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from command_api.hot_orders import json_content, plain_order
from command_api.models import OrderCreate

KEY = "key-0123456789"
EVENT, TICKET = str(uuid.uuid4()), str(uuid.uuid4())


def body(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "event_id": EVENT, "ticket_id": TICKET, "quantity": 2,
        "email": "fan@example.com", "phone_number": "+254712345678",
    }  # fmt: skip
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v is not ...}).encode()


def test_a_plain_order_is_read_as_the_route_reads_it():
    request = plain_order(body(event_id=EVENT.upper()), KEY)
    assert request is not None
    model = OrderCreate.model_validate_json(body(event_id=EVENT.upper()))
    assert request.event_id == str(model.event_id) == EVENT  # lower case, as str(UUID)
    assert request.ticket_id == str(model.ticket_id)
    assert (request.quantity, request.email, request.phone_number) == (
        model.quantity, model.email, model.phone_number,
    )  # fmt: skip
    assert request.idempotency_key == KEY


@pytest.mark.parametrize(
    "changes",
    [
        {"quantity": 0}, {"quantity": 11}, {"quantity": 2.0}, {"quantity": "2"},
        {"quantity": True}, {"email": "not-an-email"}, {"email": "a\x00@example.com"},
        {"phone_number": "0712345678"}, {"phone_number": "+254712345678\n"},
        {"event_id": EVENT.replace("-", "")}, {"event_id": "nope"}, {"ticket_id": 7},
        {"extra": 1}, {"email": ...}, {"phone_number": None},
    ],
)  # fmt: skip
def test_anything_unusual_is_left_to_the_route(changes):
    assert plain_order(body(**changes), KEY) is None


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b"{", b'{"event_id": 1}', b"\xff"])
def test_bodies_that_are_not_an_order_object_are_left_to_the_route(raw):
    assert plain_order(raw, KEY) is None


def test_a_key_with_a_nul_is_left_to_the_route():
    assert plain_order(body(), "key-\x00-0123") is None


@pytest.mark.parametrize(
    ("headers", "json"),
    [
        ([], True),
        ([(b"content-type", b"application/json")], True),
        ([(b"content-type", b"Application/JSON; charset=utf-8")], True),
        ([(b"content-type", b"text/plain")], False),
        ([(b"content-type", b"application/problem+json")], False),
        ([(b"content-type", b"application/json"), (b"content-type", b"text/plain")], False),
    ],
)
def test_only_json_or_no_content_type_is_read_here(headers, json):
    assert json_content(headers) is json


values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 15), st.floats(allow_nan=False),
    st.text(max_size=30), st.sampled_from([
        EVENT, EVENT.upper(), EVENT.replace("-", ""), f"{{{EVENT}}}", "fan@example.com",
        "a@b.c", "+254712345678", "+0712345678", "x@@y.z", "fan@example.com\n",
    ]),
)  # fmt: skip
names = st.sampled_from(["event_id", "ticket_id", "quantity", "email", "phone_number", "other"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.fixed_dictionaries({
        "event_id": st.sampled_from([EVENT, EVENT.upper(), EVENT.replace("-", "")]),
        "ticket_id": st.sampled_from([TICKET, "nope"]),
        "quantity": st.sampled_from([1, 10, 0, 11, 3.0]),
        "email": st.sampled_from(["fan@example.com", "bad", "x" * 250 + "@a.io"]),
        "phone_number": st.sampled_from(["+254712345678", "12"]),
    }),
    changes=st.dictionaries(names, values, max_size=3),
    dropped=st.lists(names, max_size=2),
)  # fmt: skip
def test_whatever_the_reader_accepts_the_route_accepts_with_the_same_values(base, changes, dropped):
    fields = {**base, **changes}
    for name in dropped:
        fields.pop(name, None)
    raw = json.dumps(fields).encode()
    request = plain_order(raw, KEY)
    if request is None:
        return  # the route decides; nothing to compare
    try:
        model = OrderCreate.model_validate_json(raw)
    except ValidationError as error:  # pragma: no cover - the failure this test looks for
        pytest.fail(f"the fast path accepted what the route refuses: {raw!r}: {error}")
    assert request.event_id == str(model.event_id)
    assert request.ticket_id == str(model.ticket_id)
    assert request.quantity == model.quantity
    assert request.email == model.email
    assert request.phone_number == model.phone_number
