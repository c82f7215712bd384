"""The sales projector reads a new order's Placed event from its stored JSON, and builds the
order only when a later event needs it: the same changes and the same orders as decoding
every event, whatever the orders do next and however the log is cut into batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from eventsourcing.persistence import Notification
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import TicketingError
from domain.money import Money
from domain.order import Order
from projections.aggregates import Unbuilt
from projections.keys import Keyspace
from projections.projectors import Projector, SalesProjector, placed_change
from services.payments.application import Orders

APP = Orders({"PERSISTENCE_MODULE": "eventsourcing.popo"})
T0 = datetime(2027, 3, 1, 19, 30, tzinfo=UTC)
STEPS = ("hold", "reject", "pay", "attach", "fail", "expire", "refund")


class Decoding(SalesProjector):
    """The reference: every event decoded and folded, as before the fast path."""

    digest = Projector.digest


def projector(
    kind: type[SalesProjector], cache_size: int = 100, app: Orders = APP
) -> SalesProjector:
    return kind(app, None, Keyspace("test"), publish=False, cache_size=cache_size)  # type: ignore[arg-type]


def step(order: Order, name: str, n: int) -> None:
    """One thing that can happen to an order next (refused when its status forbids it)."""
    at = T0 + timedelta(minutes=n)
    if name == "hold":
        order.mark_held(at)
    elif name == "reject":
        order.reject("sold_out")
    elif name == "attach":
        order.attach_payment(f"sbx_{order.id.hex[:8]}", "https://t.example.org/checkout")
    elif name == "pay":
        if order.payment_ref is None:
            order.attach_payment(f"sbx_{order.id.hex[:8]}", "https://t.example.org/checkout")
        order.mark_paid(order.payment_ref, at)
    elif name == "fail":
        order.mark_failed("declined")
    elif name == "expire":
        order.mark_expired(at + timedelta(days=1))
    elif name == "refund":
        order.mark_refunded("cancelled")


@st.composite
def logs(draw) -> tuple[Orders, list[Notification]]:
    """An orders application holding the events of a few orders, interleaved as a payments
    log would have them, and its log."""
    orders = []
    for n in range(draw(st.integers(1, 6))):
        held = draw(st.booleans())
        with_payment = held and draw(st.booleans())
        order = Order(
            id=uuid.uuid4(), event_id=uuid.uuid4(), ticket_id=uuid.uuid4(),
            quantity=draw(st.integers(1, 10)), email=f"buyer{n}@example.com",
            phone_number="+254712345678",
            unit_price=Money(draw(st.integers(0, 10**6)), draw(st.sampled_from(["KES", "USD"]))),
            request_fingerprint="f" * 64, hold_expires_at=T0 if held else None,
            payment_ref="sbx_1" if with_payment else None,
            checkout_url="https://t.example.org/checkout/sbx_1" if with_payment else None,
        )  # fmt: skip
        orders.append([*order.collect_events()])
        for name in draw(st.lists(st.sampled_from(STEPS), max_size=4)):
            try:
                step(order, name, n)
            except TicketingError:
                continue
            orders[-1].extend(order.collect_events())
    queues = [list(events) for events in orders]
    log = []
    while any(queues):
        queue = draw(st.sampled_from([q for q in queues if q]))
        log.append(queue.pop(0))
    app = Orders({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.recorder.insert_events(list(map(app.mapper.to_stored_event, log)))
    return app, app.notification_log.select(1, len(log))


def built(aggregate):
    return aggregate.build(APP) if type(aggregate) is Unbuilt else aggregate


@settings(max_examples=150, deadline=None)
@given(logs(), st.data(), st.sampled_from([2, 100]))
def test_the_same_changes_and_orders_as_decoding_every_event(app_and_log, data, cache_size):
    app, log = app_and_log  # a small cache: orders leave it, and are loaded again
    fast, reference = (
        projector(SalesProjector, cache_size, app),
        projector(Decoding, cache_size, app),
    )
    cuts = sorted(
        data.draw(st.sets(st.integers(1, len(log) - 1) if len(log) > 1 else st.nothing()))
    )
    changes, expected = [], []
    for start, end in zip([0, *cuts], [*cuts, len(log)], strict=True):
        changes += fast.digest(log[start:end]).orders
        expected += reference.digest(log[start:end]).orders
    assert changes == expected
    assert fast.cache.aggregates.keys() == reference.cache.aggregates.keys()
    for order_id, aggregate in fast.cache.aggregates.items():
        assert vars(built(aggregate)) == vars(reference.cache.aggregates[order_id])


def test_only_a_placed_event_stored_as_expected_takes_the_fast_path():
    order = Order(
        id=uuid.uuid4(), event_id=uuid.uuid4(), ticket_id=uuid.uuid4(), quantity=2,
        email="a@b.co", phone_number="+254712345678", unit_price=Money(2500, "KES"),
        request_fingerprint="f" * 64,
    )  # fmt: skip
    order.reject("sold_out")
    placed, rejected = map(APP.mapper.to_stored_event, order.collect_events())

    def notification(stored, state=None, version=None) -> Notification:
        return Notification(
            id=1, originator_id=stored.originator_id,
            originator_version=version or stored.originator_version, topic=stored.topic,
            state=stored.state if state is None else state,
        )  # fmt: skip

    change = placed_change(notification(placed))
    assert change is not None
    assert (change.event_id, change.ticket_id) == (str(order.event_id), str(order.ticket_id))
    assert (change.left, change.entered, change.quantity, change.revenue) == (None, "pending", 0, 0)
    assert change.currency == "KES"
    versioned = placed.state[:-1] + b',"class_version":2}'
    untagged = placed.state.replace(b'"_type_":"money"', b'"_type_":"cash"')
    for odd in (
        notification(rejected),
        notification(placed, version=2),
        notification(placed, state=versioned),
        notification(placed, state=untagged),
        notification(placed, state=b'{"event_id": 1}'),
    ):
        assert placed_change(odd) is None
