"""NotificationsService over real gRPC: an order's receipts, and sending a failed one again."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from protos.ticketing.v1 import notifications_pb2, notifications_pb2_grpc
from tests.integration.grpc_helpers import as_caller
from tests.integration.notifications_helpers import (
    Harness,
    delete_topology,
    eventually,
)


@pytest.fixture
async def harness(fresh_database_url, smtp, tmp_path):
    harness = Harness(fresh_database_url, smtp, tmp_path)
    yield harness
    for service in harness.services:
        await service.stop()
    await delete_topology(harness.names)


@pytest.fixture
async def notifications(harness):
    """A running service whose receipts fail for good at once while SMTP is down."""
    service, shop = await harness.build("127.0.0.1:0", ticketing_notify_attempts=1)
    await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc.port}")
    yield service, shop, notifications_pb2_grpc.NotificationsServiceStub(channel)
    await channel.close()


async def test_an_admin_sees_a_failed_receipt_and_sends_it_again_once_smtp_is_back(
    harness, notifications
):
    _, shop, stub = notifications
    admin = as_caller(harness.settings, "admin-1", "admin", "gateway")
    harness.smtp.stop()
    order_id, _ = await asyncio.to_thread(shop.pay_order, 1, "otieno@example.com")
    request = notifications_pb2.ListOrderNotificationsRequest(order_id=str(order_id))

    async def failed():
        try:
            response = await stub.ListOrderNotifications(request, metadata=admin)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: not handled yet
                raise
            return []
        return [n for n in response.items if n.status == "failed"]

    [notification] = await eventually(failed)
    assert (notification.channel, notification.recipient) == ("email", "otieno@example.com")
    assert "SMTPConnect" in notification.last_error
    assert not notification.HasField("sent_at")

    harness.smtp.start()
    resend = notifications_pb2.ResendNotificationRequest(order_id=str(order_id))
    reopened = await stub.ResendNotification(resend, metadata=admin)
    assert reopened.status in {"pending", "sending", "sent"}

    async def sent():
        response = await stub.ListOrderNotifications(request, metadata=admin)
        return [n for n in response.items if n.status == "sent"]

    await eventually(lambda: harness.inbox)
    [sent] = await eventually(sent)
    assert sent.HasField("sent_at")
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.ResendNotification(resend, metadata=admin)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await asyncio.sleep(0.2)
    assert len(harness.inbox) == 1


async def test_only_admins_may_look_and_unknown_orders_are_not_found(harness, notifications):
    _, shop, stub = notifications
    customer = as_caller(harness.settings, "anonymous", "customer", "gateway")
    admin = as_caller(harness.settings, "admin-1", "admin", "gateway")
    order_id, _ = await asyncio.to_thread(shop.pay_order)
    request = notifications_pb2.ListOrderNotificationsRequest(order_id=str(order_id))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListOrderNotifications(request, metadata=customer)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    unknown = notifications_pb2.ListOrderNotificationsRequest(order_id=str(shop.concert_id))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.ListOrderNotifications(unknown, metadata=admin)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
