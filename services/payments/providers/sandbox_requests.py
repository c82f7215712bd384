"""What merchants and customers send to the payment sandbox, and the rules their fields follow.

`PaymentCreate` is the contract. `read_payment_create` is the hot path's reader of the same
body: orjson and a few plain checks instead of a model validation. It accepts a body only when
the model certainly does, with the same values, and gives None for anything else, which the
route then answers (with the model's exact 422, or a 201/200 all the same).
"""

from __future__ import annotations

import re
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.money import Money
from services.payments.providers.sandbox_store import NewPayment

AMOUNT = re.compile(r"(0|[1-9][0-9]{0,12})\.[0-9]{2}")
ORDER_ID_LENGTH = (1, 255)
DESCRIPTION_MAX_LENGTH = 500
EMAIL_LENGTH = (3, 320)
# A batch of creates (POST /sandbox/payments/batch) carries at most this many payments.
MAX_BATCH_CREATES = 500
# The model's patterns run on pydantic's Rust regex engine, whose `$` is the end of the text
# and whose `\s` is Unicode White_Space. Python's `re` is used here with fullmatch (so no
# trailing newline slips through) and its `\s` matches a few more characters (U+001C-U+001F)
# than Rust's: an address with one of those is left to the route, never wrongly accepted.
CURRENCY = re.compile(r"[A-Z]{3}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
PAYMENT_CREATE_FIELDS = frozenset({"order_id", "amount", "currency", "description", "email"})


def is_amount(value: str) -> bool:
    """A positive decimal string with exactly two places, like "25.00"."""
    return AMOUNT.fullmatch(value) is not None and value != "0.00"


class PaymentCreate(BaseModel):
    """What a merchant sends to start a payment."""

    model_config = ConfigDict(extra="forbid", strict=True)

    order_id: str = Field(min_length=ORDER_ID_LENGTH[0], max_length=ORDER_ID_LENGTH[1])
    amount: str = Field(description='A positive decimal string with two places, like "25.00"')
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    description: str = Field(max_length=DESCRIPTION_MAX_LENGTH)
    email: str = Field(
        min_length=EMAIL_LENGTH[0], max_length=EMAIL_LENGTH[1], pattern=r"^[^@\s]+@[^@\s]+$"
    )

    @field_validator("amount")
    @classmethod
    def check_amount(cls, value: str) -> str:
        """A positive amount with exactly two decimal places."""
        if not is_amount(value):
            raise ValueError("must be a positive decimal string with two places, like '25.00'")
        return value


class PaymentCreateBatch(BaseModel):
    """What a merchant sends to start many payments in one request, each as PaymentCreate."""

    model_config = ConfigDict(extra="forbid", strict=True)

    payments: list[PaymentCreate] = Field(min_length=1, max_length=MAX_BATCH_CREATES)


class PaymentCompletion(BaseModel):
    """What the customer chose at checkout."""

    model_config = ConfigDict(extra="forbid", strict=True)

    outcome: Literal["succeeded", "declined"]


def read_payment_create(body: bytes) -> NewPayment | None:
    """The payment a body asks for if PaymentCreate accepts it as it is; None when unsure."""
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return _payment_create(fields)


def read_payment_create_batch(body: bytes) -> list[NewPayment] | None:
    """The payments a batch body asks for if PaymentCreateBatch accepts it as it is (every
    one of them); None when unsure."""
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(fields) is not dict or fields.keys() != {"payments"}:
        return None
    items = fields["payments"]
    if type(items) is not list or not 1 <= len(items) <= MAX_BATCH_CREATES:
        return None
    payments = []
    for item in items:
        payment = _payment_create(item)
        if payment is None:
            return None
        payments.append(payment)
    return payments


def _payment_create(fields: object) -> NewPayment | None:
    """PaymentCreate's fields as a NewPayment, if the model certainly accepts them as they are."""
    if type(fields) is not dict or fields.keys() != PAYMENT_CREATE_FIELDS:
        return None
    order_id, amount, currency, description, email = (
        fields["order_id"],
        fields["amount"],
        fields["currency"],
        fields["description"],
        fields["email"],
    )
    # strict=True: only JSON strings are str fields (orjson gives exactly str for those).
    if not (
        type(order_id) is str
        and type(amount) is str
        and type(currency) is str
        and type(description) is str
        and type(email) is str
        and ORDER_ID_LENGTH[0] <= len(order_id) <= ORDER_ID_LENGTH[1]
        and is_amount(amount)
        and CURRENCY.fullmatch(currency)
        and len(description) <= DESCRIPTION_MAX_LENGTH
        and EMAIL_LENGTH[0] <= len(email) <= EMAIL_LENGTH[1]
        and EMAIL.fullmatch(email)
    ):
        return None
    return NewPayment(order_id, Money.parse(amount, currency), description, email)
