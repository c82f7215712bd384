"""Receipts in the embedded mode: SQLite, the in-process queue, .eml files in the data folder."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy

import pytest

from services.common.settings import Settings
from services.notifications.main import build_notification_service
from services.payments.order_token import order_token
from tests.integration.notifications_helpers import SECRET, Shop, eventually


@pytest.fixture
async def embedded(tmp_path):
    settings = Settings(
        ticketing_data_dir=tmp_path,
        ticketing_order_token_secret=SECRET,
        ticketing_relay_interval_seconds=0.05,
        ticketing_notify_backoff_seconds=0.05,
    )
    assert (settings.database_url, settings.amqp_url, settings.smtp_url) == (None, None, None)
    service = await build_notification_service(settings)
    await service.start()
    yield service, Shop(service.tickets, service.orders), tmp_path / "mail"
    await service.stop()


def mail_in(folder):
    return sorted(folder.glob("*.eml")) if folder.exists() else []


async def test_a_paid_order_is_written_as_one_eml_file_with_its_pdf(embedded):
    service, shop, mail = embedded

    order_id, payment_ref = await asyncio.to_thread(shop.pay_order, 1, "juma@example.com")

    [path] = await eventually(lambda: mail_in(mail))
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert message["To"] == "juma@example.com"
    assert payment_ref in text
    assert "25.00 KES" in text
    assert f"token={order_token(SECRET.encode(), order_id)}" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content().startswith(b"%PDF")
    [row] = await eventually(lambda: [r for r in service.store.find(str(order_id)) if r.sent_at])
    assert (row.status, row.attempts) == ("sent", 1)


async def test_a_message_published_twice_is_written_once(embedded):
    service, shop, mail = embedded
    await service.relay.stop()
    order_id, _ = await asyncio.to_thread(shop.pay_order)

    assert await service.relay.relay() == 1
    service.store.record_relay_position(service.relay.name, 0)  # as if the write was lost
    assert await service.relay.relay() == 1

    await eventually(lambda: mail_in(mail))
    await eventually(lambda: service.bus.receipts.empty() and service.bus.in_flight.count == 0)
    await asyncio.sleep(0.2)
    assert len(mail_in(mail)) == 1
    [row] = service.store.find(str(order_id))
    assert (row.status, row.attempts) == ("sent", 1)


async def test_a_malformed_message_is_set_aside_and_the_consumer_keeps_going(embedded):
    service, shop, mail = embedded

    await service.bus.publish("order.paid", b"\xff not json", "poison-1")
    await eventually(lambda: service.bus.dead)
    order_id, _ = await asyncio.to_thread(shop.pay_order)

    await eventually(lambda: mail_in(mail))
    await eventually(lambda: [r.status for r in service.store.find(str(order_id))] == ["sent"])
    assert [message_id for _, message_id in service.bus.dead] == ["poison-1"]
    assert service.store.count_by_status() == {"sent": 1}
