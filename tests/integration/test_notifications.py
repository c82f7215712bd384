"""Receipts for paid orders: the outbox relay, real RabbitMQ, a real SMTP server, PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage

import pytest

from services.notifications.main import NotificationService
from services.payments.order_token import order_token
from tests.integration.notifications_helpers import (
    SECRET,
    Harness,
    dead_letters,
    delete_topology,
    eventually,
    ready_messages,
)


@pytest.fixture
async def harness(fresh_database_url, smtp, tmp_path):
    harness = Harness(fresh_database_url, smtp, tmp_path)
    yield harness
    for service in harness.services:
        await service.stop()
    await delete_topology(harness.names)


def receipts_to(inbox: list[EmailMessage], order_id: uuid.UUID) -> list[EmailMessage]:
    return [m for m in inbox if str(order_id) in m.get_body(("plain",)).get_content()]


async def test_a_paid_order_yields_exactly_one_receipt_with_everything_the_customer_needs(harness):
    service, shop = await harness.build()
    await service.start()

    order_id, payment_ref = await asyncio.to_thread(shop.pay_order, 3, "amina@example.com")

    [message] = await eventually(lambda: receipts_to(harness.inbox, order_id))
    assert message["To"] == "amina@example.com"
    assert "Sauti Sol Live" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = order_token(SECRET.encode(), order_id)
    link = f"http://127.0.0.1:8000/#/orders/{order_id}?token={token}"
    for part in (text, html):
        for fact in ("Sauti Sol Live", "Uhuru Gardens, Nairobi", "VIP", "75.00 KES", payment_ref):
            assert fact in part
    assert "Quantity: 3" in text
    assert link in text
    assert f'href="{link}"' in html.replace("&amp;", "&")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"receipt-{order_id}.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    [row] = await eventually(lambda: [r for r in service.store.find(str(order_id)) if r.sent_at])
    assert (row.channel, row.status, row.attempts, row.recipient) == (
        "email", "sent", 1, "amina@example.com"
    )  # fmt: skip
    assert payment_ref in row.content
    await asyncio.sleep(0.3)
    assert len(receipts_to(harness.inbox, order_id)) == 1


async def test_orders_paid_while_the_consumer_is_down_are_all_mailed_once_it_starts(harness):
    service, shop = await harness.build()
    service.relay.start()  # the consumer stays stopped

    paid = [(await asyncio.to_thread(shop.pay_order))[0] for _ in range(50)]

    async def all_fifty_wait_in_the_queue() -> bool:
        return await ready_messages(harness.names, harness.names.receipts) == 50

    await eventually(all_fifty_wait_in_the_queue, timeout=15)
    assert harness.inbox == []

    await service.consumer.start()

    await eventually(lambda: len(harness.inbox) >= 50, timeout=30)
    await asyncio.sleep(0.3)
    mailed = [m.get_filename() for msg in harness.inbox for m in msg.iter_attachments()]
    assert sorted(mailed) == sorted(f"receipt-{order_id}.pdf" for order_id in paid)
    await eventually(lambda: service.store.count_by_status() == {"sent": 50})


def record_publishes(service: NotificationService) -> list[str]:
    """Make the service's bus note the id of every message the broker confirmed."""
    published: list[str] = []
    publish = service.bus.publish

    async def recording_publish(routing_key, body, message_id):
        await publish(routing_key, body, message_id)
        published.append(message_id)

    service.bus.publish = recording_publish
    return published


def rows_of(service: NotificationService, order_id: uuid.UUID):
    return service.store.find(str(order_id))


async def test_receipts_wait_in_retrying_while_smtp_is_down_and_go_out_once_it_is_back(harness):
    service, shop = await harness.build(
        ticketing_notify_attempts=8, ticketing_notify_backoff_seconds=0.1
    )
    await service.start()
    harness.smtp.stop()

    order_id, _ = await asyncio.to_thread(shop.pay_order)

    [row] = await eventually(
        lambda: [r for r in rows_of(service, order_id) if r.status == "retrying"]
    )
    assert row.attempts >= 1
    assert "SMTPConnect" in row.last_error
    harness.smtp.start()
    [row] = await eventually(
        lambda: [r for r in rows_of(service, order_id) if r.status == "sent"], timeout=20
    )
    assert row.last_error is None
    assert row.attempts >= 2
    assert len(receipts_to(harness.inbox, order_id)) == 1
    assert await dead_letters(harness.names) == []


async def test_a_receipt_that_exhausts_its_retries_is_dead_lettered_and_marked_failed(harness):
    service, shop = await harness.build(
        ticketing_notify_attempts=2, ticketing_notify_backoff_seconds=0.05
    )
    await service.start()
    harness.smtp.stop()

    order_id, _ = await asyncio.to_thread(shop.pay_order)

    [dead] = await eventually(lambda: dead_letters(harness.names))
    assert dead.message_id == f"{order_id}:paid"
    [row] = rows_of(service, order_id)
    assert (row.status, row.attempts) == ("failed", 2)
    assert "SMTPConnect" in row.last_error
    assert row.sent_at is None


async def test_a_relay_killed_between_publish_and_position_publishes_again_but_mails_once(
    harness,
):
    service, shop = await harness.build()
    await service.consumer.start()
    published = record_publishes(service)

    def killed_before_recording(name, position):
        raise RuntimeError("killed after the confirm, before the position was written")

    order_id, _ = await asyncio.to_thread(shop.pay_order)
    recording = service.store.record_relay_position
    service.store.record_relay_position = killed_before_recording
    with pytest.raises(RuntimeError, match="killed"):
        await service.relay.relay()
    assert service.store.relay_position(service.relay.name) == 0
    service.store.record_relay_position = recording

    assert await service.relay.relay() == 1

    assert published == [f"{order_id}:paid", f"{order_id}:paid"]
    await eventually(lambda: receipts_to(harness.inbox, order_id))

    async def both_deliveries_handled() -> bool:
        waiting = await ready_messages(harness.names, harness.names.receipts)
        return waiting == 0 and service.bus.in_flight.count == 0

    await eventually(both_deliveries_handled)
    await asyncio.sleep(0.3)
    assert len(receipts_to(harness.inbox, order_id)) == 1
    [row] = rows_of(service, order_id)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_a_malformed_message_is_dead_lettered_and_the_consumer_keeps_going(harness):
    service, shop = await harness.build()
    await service.start()

    await service.bus.publish("order.paid", b"{this is not json", "poison-1")
    await service.bus.publish("order.paid", b'{"type": "order.paid"}', "poison-2")

    dead: list = []

    async def both_dead_lettered() -> bool:
        dead.extend(await dead_letters(harness.names))
        return len(dead) >= 2

    await eventually(both_dead_lettered)
    assert sorted(message.message_id for message in dead) == ["poison-1", "poison-2"]
    order_id, _ = await asyncio.to_thread(shop.pay_order)
    await eventually(lambda: receipts_to(harness.inbox, order_id))
    await eventually(lambda: service.store.count_by_status() == {"sent": 1})


async def test_a_refund_is_published_without_holding_up_the_receipts_behind_it(harness):
    service, shop = await harness.build()
    published = record_publishes(service)
    await service.start()

    refunded, _ = await asyncio.to_thread(shop.pay_order)
    await asyncio.to_thread(shop.orders.mark_refunded, refunded, "the customer changed plans")
    later, _ = await asyncio.to_thread(shop.pay_order)

    await eventually(lambda: receipts_to(harness.inbox, later))
    assert f"{refunded}:refunded" in published
    assert published.index(f"{refunded}:refunded") < published.index(f"{later}:paid")
    assert len(receipts_to(harness.inbox, refunded)) == 1


async def test_stopping_the_consumer_finishes_the_receipt_in_hand_and_takes_no_more(harness):
    service, shop = await harness.build()
    await service.start()
    harness.smtp.inbox.delay = 0.5
    order_id, _ = await asyncio.to_thread(shop.pay_order)
    await eventually(lambda: [r for r in rows_of(service, order_id) if r.status == "sending"])

    await service.consumer.stop()

    [row] = rows_of(service, order_id)
    assert row.status == "sent"
    assert len(receipts_to(harness.inbox, order_id)) == 1
    assert await ready_messages(harness.names, harness.names.receipts) == 0
    later, _ = await asyncio.to_thread(shop.pay_order)

    async def later_waits_in_the_queue() -> bool:
        return await ready_messages(harness.names, harness.names.receipts) == 1

    await eventually(later_waits_in_the_queue)
    assert rows_of(service, later) == []


async def test_a_queue_depth_read_cut_short_leaves_the_consumer_working(harness):
    """The relay is cancelled when it stops, possibly mid-read of the queue's depth.

    aiormq closes a channel whose call is cancelled, and the depth is read on the consumer's
    channel: the read is shielded, so the consumer goes on taking receipts.
    """
    service, shop = await harness.build()
    await service.start()
    channel = service.bus.queue.channel
    for _ in range(20):
        read = asyncio.create_task(service.bus.depth())
        for _ in range(3):  # the declare is sent, its answer not yet read
            await asyncio.sleep(0)
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
    assert not channel.is_closed
    assert await service.bus.depth() == 0
    order_id, _ = await asyncio.to_thread(shop.pay_order)
    await eventually(lambda: receipts_to(harness.inbox, order_id))


async def test_stopping_a_consumer_whose_channel_is_gone_does_not_fail(harness):
    service, _ = await harness.build()
    await service.start()
    await service.bus.queue.channel.close()
    await service.stop()  # no error: the consumer went with its channel
    harness.services.remove(service)
