"""The hot path's reader of a create-payment body accepts only what PaymentCreate accepts."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.money import Money
from services.payments.providers.sandbox_requests import PaymentCreate, read_payment_create
from services.payments.providers.sandbox_store import NewPayment

ODD_TEXT = 'Tab\t, quote " and backslash \\, 😀 é\u2028\x7f'
GOOD = {
    "order_id": "6f1c1c8e-2a4b-4e47-9d55-0f4c3c1e9a10",
    "amount": "25.00",
    "currency": "KES",
    "description": "2 standing tickets, Nairobi Jazz Night",
    "email": "ada@example.com",
}


def model_reads(body: bytes) -> NewPayment | None:
    """What the route makes of a body: the payment, or None for its 422."""
    try:
        command = PaymentCreate.model_validate_json(body or b"null")
    except ValidationError:
        return None
    amount = Money.parse(command.amount, command.currency)
    return NewPayment(command.order_id, amount, command.description, command.email)


def test_the_body_the_provider_adapter_sends_is_read_as_the_model_reads_it():
    body = json.dumps(GOOD).encode()  # aiohttp's json=: json.dumps with its default spacing
    payment = read_payment_create(body)
    assert payment == NewPayment(
        GOOD["order_id"], Money(2500, "KES"), GOOD["description"], GOOD["email"]
    )
    assert payment == model_reads(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"[]", id="array"),
        pytest.param(b"null", id="null"),
        pytest.param(orjson.dumps(GOOD) + b"x", id="trailing-garbage"),
        pytest.param(b"\xef\xbb\xbf" + orjson.dumps(GOOD), id="byte-order-mark"),
        pytest.param(orjson.dumps(GOOD).replace(b"Nairobi", b"\xffNairobi"), id="not-utf-8"),
        pytest.param(orjson.dumps(GOOD).replace(b"Nairobi", b"\\ud800"), id="lone-surrogate"),
        pytest.param(orjson.dumps(GOOD).replace(b"Nairobi", b"\x01"), id="raw-control-char"),
        pytest.param(orjson.dumps(GOOD | {"coupon": "FREE"}), id="extra-field"),
        pytest.param(orjson.dumps({k: v for k, v in GOOD.items() if k != "email"}), id="missing"),
        pytest.param(orjson.dumps(GOOD | {"amount": 25.0}), id="amount-number"),
        pytest.param(orjson.dumps(GOOD | {"order_id": 7}), id="order-id-number"),
        pytest.param(orjson.dumps(GOOD | {"description": None}), id="null-field"),
        pytest.param(orjson.dumps(GOOD | {"email": ["a@b.c"]}), id="list-field"),
        pytest.param(orjson.dumps(GOOD | {"order_id": ""}), id="empty-order-id"),
        pytest.param(orjson.dumps(GOOD | {"order_id": "x" * 256}), id="long-order-id"),
        pytest.param(orjson.dumps(GOOD | {"amount": "25.5"}), id="one-decimal"),
        pytest.param(orjson.dumps(GOOD | {"amount": "0.00"}), id="zero"),
        pytest.param(orjson.dumps(GOOD | {"amount": "-1.00"}), id="negative"),
        pytest.param(orjson.dumps(GOOD | {"amount": "01.00"}), id="leading-zero"),
        pytest.param(orjson.dumps(GOOD | {"amount": "25.00\n"}), id="amount-newline"),
        pytest.param(orjson.dumps(GOOD | {"amount": "٢٥.00"}), id="arabic-digits"),
        pytest.param(orjson.dumps(GOOD | {"amount": "1" * 14 + ".00"}), id="too-large"),
        pytest.param(orjson.dumps(GOOD | {"currency": "usd"}), id="lowercase-currency"),
        pytest.param(orjson.dumps(GOOD | {"currency": "USD\n"}), id="currency-newline"),
        pytest.param(orjson.dumps(GOOD | {"currency": "ÜSD"}), id="currency-non-ascii"),
        pytest.param(orjson.dumps(GOOD | {"description": "x" * 501}), id="long-description"),
        pytest.param(orjson.dumps(GOOD | {"email": "not an email"}), id="email-space"),
        pytest.param(orjson.dumps(GOOD | {"email": "a@b@c"}), id="email-two-ats"),
        pytest.param(orjson.dumps(GOOD | {"email": "a\u0085@b.c"}), id="email-next-line"),
        pytest.param(orjson.dumps(GOOD | {"email": "a@"}), id="email-short"),
        pytest.param(orjson.dumps(GOOD | {"email": "a@" + "b" * 319}), id="email-long"),
    ],
)
def test_a_body_the_model_refuses_is_left_to_the_route(body):
    assert model_reads(body) is None
    assert read_payment_create(body) is None


def test_an_address_with_a_separator_control_is_left_to_the_route_though_the_model_takes_it():
    # Rust's \s (the model's pattern) is not Python's: U+001C-U+001F are spaces only to Python.
    body = orjson.dumps(GOOD | {"email": "a\x1c@b.c"})
    assert model_reads(body) is not None
    assert read_payment_create(body) is None


@pytest.mark.parametrize(
    "change",
    [
        {"order_id": "x"},
        {"order_id": "😀" * 255},  # 255 characters, 1,020 bytes
        {"amount": "0.01"},
        {"amount": "9" * 13 + ".99"},
        {"description": ""},
        {"description": (ODD_TEXT + "x" * 500)[:500]},
        {"email": "a@b"},
        {"email": "ädä@exämple.org"},
    ],
)
def test_edge_values_the_model_accepts_are_read_alike(change):
    body = orjson.dumps(GOOD | change)
    assert read_payment_create(body) == model_reads(body) is not None


def test_whitespace_around_the_body_is_read_alike():
    body = b" \n" + orjson.dumps(GOOD, option=orjson.OPT_INDENT_2) + b"\r\n"
    assert read_payment_create(body) == model_reads(body) is not None


def test_a_repeated_key_counts_once_with_its_last_value_as_for_the_model():
    body = b'{"order_id":"first",' + orjson.dumps(GOOD)[1:]
    assert read_payment_create(body) == model_reads(body) is not None


TRICKY = "aZ09@. \t\n\r\x00\x1c\x1f\x85\xa0\u2028\u3000\ufeff-é😀٢"
tricky_text = st.text(alphabet=TRICKY, max_size=8)
junk = st.one_of(
    st.integers(), st.floats(), st.none(), st.booleans(), st.lists(st.just("x"), max_size=1)
)
near_misses = {
    "order_id": st.one_of(tricky_text, st.text(alphabet="x😀", min_size=250, max_size=260)),
    "amount": st.from_regex(r"\A(0|[0-9]{1,14})\.[0-9]{1,3}\s?\Z"),
    "currency": st.text(alphabet="USDKEa\n ", max_size=4),
    "description": st.one_of(tricky_text, st.text(alphabet="x\t😀", min_size=495, max_size=505)),
    "email": st.one_of(tricky_text, st.builds(lambda a, b: f"{a}@{b}", tricky_text, tricky_text)),
}
# Mostly near misses of a good body: a field or two off, sometimes one missing or extra.
bodies = st.builds(
    lambda fields, missing, extra: {k: v for k, v in fields.items() if k not in missing} | extra,
    st.fixed_dictionaries({name: st.one_of(near_misses[name], junk) for name in GOOD}).flatmap(
        lambda wrong: st.builds(
            lambda keep: {k: GOOD[k] if k in keep else wrong[k] for k in GOOD},
            st.sets(st.sampled_from(list(GOOD)), min_size=3),
        )
    ),
    st.sets(st.sampled_from(list(GOOD)), max_size=1),
    st.sampled_from([{}, {}, {}, {"coupon": "FREE"}]),
)


@settings(max_examples=500, deadline=None)
@given(fields=bodies, escaped=st.booleans())
@example(fields=GOOD | {"email": "a\x1c@b.c"}, escaped=False)
@example(fields=GOOD | {"currency": "USD\n"}, escaped=True)
def test_whatever_the_reader_accepts_the_model_accepts_with_the_same_values(
    fields: dict[str, Any], escaped: bool
):
    body = json.dumps(fields, ensure_ascii=escaped, allow_nan=True).encode()
    read = read_payment_create(body)
    if read is not None:
        assert read == model_reads(body)
