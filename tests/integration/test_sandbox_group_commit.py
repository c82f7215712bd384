"""The sandbox store creates a batch of payments in one statement, each as if it came alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from domain.money import Money
from services.common.database import Database
from services.common.group_commit import BatchQueue
from services.payments.providers import InvalidPaymentStateError
from services.payments.providers.sandbox_store import NewPayment, SandboxPayment, SandboxStore
from tests.integration.sandbox_helpers import a_fresh_store

PRICE = Money(2500, "USD")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request, tmp_path_factory) -> Iterator[SandboxStore]:
    with a_fresh_store(request.param, request, tmp_path_factory.mktemp("sandbox")) as store:
        store.migrate()
        yield store


def an_order() -> str:
    return str(uuid.uuid4())


def a_request(order_id: str, amount: Money = PRICE, description: str = "1 ticket") -> NewPayment:
    return NewPayment(order_id, amount, description, "ada@example.com")


def stored_orders(store: SandboxStore, order_ids: list[str]) -> dict[str, tuple[str, int]]:
    rows = store.database.query(
        "SELECT order_id, payment_ref, amount_minor FROM sandbox_payments "
        f"WHERE order_id IN ({', '.join(['%s'] * len(order_ids))})",
        order_ids,
    )
    return {order_id: (ref, minor) for order_id, ref, minor in rows}


@contextmanager
def counting_statements(store: SandboxStore) -> Iterator[list[str]]:
    """The statements the store runs meanwhile, and how many transactions: 'BEGIN' each.

    A lone statement (`query`) is its own transaction: on PostgreSQL it is sent as it is
    (autocommit, no BEGIN), on SQLite the port's `query` opens a transaction around it.
    """
    seen: list[str] = []
    original = store.database.transaction
    original_query = store.database.query
    lone_statements = type(store.database).query is not Database.query

    def query(query, params=()):
        if lone_statements:
            seen.append(query.split()[0])
        return original_query(query, params)

    @contextmanager
    def transaction():
        seen.append("BEGIN")
        with original() as cursor:

            class Counting:
                def __getattr__(self, name):
                    return getattr(cursor, name)

                def execute(self, query, params=()):
                    seen.append(query.split()[0])
                    cursor.execute(query, params)
                    return self

            yield Counting()

    store.database.transaction = transaction
    store.database.query = query
    try:
        yield seen
    finally:
        del store.database.transaction
        del store.database.query


def lone(store: SandboxStore, *statements: str) -> list[str]:
    """What running these statements one by one looks like to counting_statements."""
    if store.database.dialect == "postgres":
        return list(statements)  # each sent alone, committed as it completes
    return [word for statement in statements for word in ("BEGIN", statement)]


def test_a_batch_inserts_the_new_orders_then_reads_the_known_ones(store):
    known = an_order()
    [(existing, created)] = store.create_payments([a_request(known)])
    assert created
    new = [an_order() for _ in range(3)]
    with counting_statements(store) as statements:
        outcomes = store.create_payments(
            [a_request(new[0]), a_request(known), *map(a_request, new[1:])]
        )
    assert statements == lone(store, "INSERT", "SELECT")
    assert [(payment.order_id, created) for payment, created in outcomes] == [
        (new[0], True),
        (known, False),
        (new[1], True),
        (new[2], True),
    ]
    assert outcomes[1][0] == existing
    stored = stored_orders(store, [known, *new])
    assert {order_id: ref for order_id, (ref, _) in stored.items()} == {
        payment.order_id: payment.payment_ref for payment, _ in outcomes
    }


def test_a_batch_of_new_orders_only_is_a_single_insert(store):
    with counting_statements(store) as statements:
        outcomes = store.create_payments([a_request(an_order()) for _ in range(5)])
    assert statements == lone(store, "INSERT")
    assert all(created and payment.status == "pending" for payment, created in outcomes)
    assert len({payment.payment_ref for payment, _ in outcomes}) == 5


def test_two_creates_for_one_order_in_a_batch_are_answered_as_if_one_came_after_the_other(store):
    order_id = an_order()
    first, repeat = store.create_payments(
        [a_request(order_id, description="first"), a_request(order_id, description="second")]
    )
    assert first[1] is True
    assert repeat == (first[0], False)
    assert first[0].description == "first"  # the repeat gets the payment the first one made
    assert len(stored_orders(store, [order_id])) == 1


def test_a_create_whose_amount_conflicts_is_refused_alone_and_the_rest_are_created(store):
    known = an_order()
    [(existing, _)] = store.create_payments([a_request(known)])
    fresh, repeated = an_order(), an_order()
    outcomes = store.create_payments(
        [
            a_request(fresh),
            a_request(known, Money(3000, "USD")),  # conflicts with the stored payment
            a_request(repeated),
            a_request(repeated, Money(2500, "KES")),  # conflicts with the one just above
            a_request(known),
        ]
    )
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert [type(error) for error in conflicts] == [InvalidPaymentStateError] * 2
    assert str(conflicts[0]) == f"order {known} already has a payment of 25.00 USD"
    assert str(conflicts[1]) == f"order {repeated} already has a payment of 25.00 USD"
    assert outcomes[0][1] is True
    assert outcomes[2][1] is True
    assert outcomes[4] == (existing, False)
    stored = stored_orders(store, [fresh, known, repeated])
    assert {order_id: minor for order_id, (_, minor) in stored.items()} == {
        fresh: 2500,
        known: 2500,
        repeated: 2500,
    }


def test_create_payment_alone_still_answers_new_existing_and_conflicting(store):
    order_id = an_order()
    payment, created = store.create_payment(order_id, PRICE, "1 ticket", "ada@example.com")
    assert created
    assert store.create_payment(order_id, PRICE, "", "x@y.z") == (payment, False)
    with pytest.raises(InvalidPaymentStateError):
        store.create_payment(order_id, Money(1, "USD"), "", "x@y.z")


async def test_creates_submitted_together_are_applied_in_one_batch(store):
    batches: list[int] = []

    def create_payments(
        requests: list[NewPayment],
    ) -> list[tuple[SandboxPayment, bool] | Exception]:
        batches.append(len(requests))
        return store.create_payments(requests)

    queue: BatchQueue[NewPayment, tuple[SandboxPayment, bool]] = BatchQueue(create_payments)
    orders = [an_order() for _ in range(40)]
    outcomes = await asyncio.gather(
        *(queue.submit(a_request(order_id)) for order_id in orders + orders[:10]),
        return_exceptions=True,
    )
    assert batches == [50]
    assert [created for _, created in outcomes] == [True] * 40 + [False] * 10
    assert [payment for payment, _ in outcomes[40:]] == [payment for payment, _ in outcomes[:10]]
    assert len(stored_orders(store, orders)) == 40


def test_any_text_and_the_largest_amounts_are_stored_and_read_back_as_given(store):
    odd = 'Tab\t, quote ", backslash \\, braces {}, comma, 😀 é \u2028 \x01'
    requests = [
        NewPayment(an_order(), Money(10**15, "KES"), odd, "ada+tag@example.com"),
        NewPayment(an_order(), Money(1, "USD"), "", "b@example.org"),
        NewPayment('order with spaces, {braces} and "quotes"', PRICE, odd[::-1], "c@d.ef"),
    ]
    outcomes = store.create_payments(requests)
    for request, (payment, created) in zip(requests, outcomes, strict=True):
        assert created
        assert (payment.order_id, payment.amount, payment.description, payment.email) == (
            request.order_id, request.amount, request.description, request.email,
        )  # fmt: skip
        assert store.get_payment(payment.payment_ref) == payment
