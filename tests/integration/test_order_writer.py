"""The order writer's shortcuts (reusing orders it saved, creating without a look-up) never
let two replicas record one order twice or act on a stale copy."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import IdempotencyKeyReusedError, InvalidTransitionError
from domain.money import Money
from domain.order import OrderStatus
from services.payments.application import OrderPlacement, Orders
from services.payments.order_writer import OrderWriter

PRICE = Money.parse("25.00", "KES")


def placement(key: str, quantity: int = 2) -> OrderPlacement:
    event_id = uuid.UUID(int=1)
    ticket_id = uuid.UUID(int=2)
    return OrderPlacement(key, event_id, ticket_id, quantity, "fan@example.com", "+254712345678",
                          PRICE)  # fmt: skip


@pytest.fixture
def orders(pg_env):
    app = Orders(env=pg_env | {"AGGREGATE_CACHE_MAXSIZE": "100"})
    yield app
    app.close()


@pytest.fixture
def other_replica(pg_env):
    app = Orders(env=pg_env | {"AGGREGATE_CACHE_MAXSIZE": "100"})
    yield app
    app.close()


async def test_a_key_placed_by_another_replica_is_found_not_placed_again(orders, other_replica):
    first, second = OrderWriter(orders), OrderWriter(other_replica)
    placed = placement("replica-key-1")
    view = await first.submit(placed.order_id, placed, probably_new=True)
    again = placement("replica-key-1")
    seen = await second.submit(again.order_id, again, probably_new=True)
    assert (placed.created, again.created) == (True, False)
    assert seen.id == view.id
    assert seen.version == view.version
    other_body = placement("replica-key-1", quantity=3)
    with pytest.raises(IdempotencyKeyReusedError):
        await second.submit(other_body.order_id, other_body, probably_new=True)
    await first.close()
    await second.close()


async def test_a_copy_another_replica_changed_is_replayed_on_the_stored_order(
    orders, other_replica
):
    first, second = OrderWriter(orders), OrderWriter(other_replica)
    placed = placement("replica-key-2")
    view = await first.submit(placed.order_id, placed, probably_new=True)
    # The other replica moves the order on; the first still has its own copy cached.
    await second.update(view.id, lambda o: o.reject("sold_out"))
    with pytest.raises(InvalidTransitionError):
        await first.update(view.id, lambda o: o.mark_held(view.placed_at))
    stored = orders.get_order(view.id)
    assert stored.status is OrderStatus.REJECTED
    assert stored.version == view.version + 1
    await first.close()
    await second.close()
