"""The notification service's gRPC edge: an order's notifications, and sending one again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import grpc

from domain.errors import InvalidTransitionError, InvalidValueError, NotFoundError
from domain.order import OrderStatus
from protos.ticketing.v1 import notifications_pb2, notifications_pb2_grpc
from services.common.identity import require_identity
from services.common.protobuf import parse_uuid, timestamp
from services.notifications.bus import RECEIPTS_BINDING
from services.notifications.consumer import EMAIL
from services.notifications.relay import OutboxRelay
from services.notifications.store import Notification, NotificationStore

ADMINS = ("admin", "superadmin")


async def resend_receipt(store: NotificationStore, relay: OutboxRelay, order_id: UUID) -> None:
    """Reopen a receipt that failed for good and publish the order's `order.paid` again."""
    order = await asyncio.to_thread(relay.orders.get_order, order_id)
    if order.status is not OrderStatus.PAID:
        raise InvalidTransitionError(f"the order is {order.status.value}, not paid")
    if not await asyncio.to_thread(store.reopen, str(order_id), EMAIL):
        raise InvalidTransitionError("only a receipt that failed can be sent again")
    body = (await asyncio.to_thread(relay.paid_order, order)).to_json()
    # A fresh message id: this is a new request to send, not a redelivery of the first.
    await relay.bus.publish(RECEIPTS_BINDING, body, f"{order_id}:paid:resend:{uuid.uuid4()}")


class NotificationsServicer(notifications_pb2_grpc.NotificationsServiceServicer):
    """Admins look at an order's notifications and send a failed one again."""

    def __init__(self, store: NotificationStore, relay: OutboxRelay) -> None:
        self.store = store
        self.relay = relay

    async def ListOrderNotifications(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(ADMINS)
        order_id = parse_uuid("order_id", request.order_id)
        rows = await asyncio.to_thread(self.store.find, str(order_id))
        if not rows:
            raise NotFoundError(f"no notifications for order {order_id}")
        return notifications_pb2.ListOrderNotificationsResponse(items=[to_proto(r) for r in rows])

    async def ResendNotification(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(ADMINS)
        order_id = parse_uuid("order_id", request.order_id)
        if request.channel not in ("", EMAIL):
            raise InvalidValueError(f"unknown channel {request.channel!r}")
        await resend_receipt(self.store, self.relay, order_id)
        [row] = await asyncio.to_thread(self.store.find, str(order_id))
        return to_proto(row)


def to_proto(row: Notification) -> Any:
    """A notifications row as its protobuf message."""
    message = notifications_pb2.Notification(
        id=row.id,
        order_id=row.order_id,
        channel=row.channel,
        status=row.status,
        recipient=row.recipient,
        attempts=row.attempts,
        last_error=row.last_error or "",
    )
    if row.sent_at is not None:
        sent_at = row.sent_at
        message.sent_at.CopyFrom(
            timestamp(sent_at if isinstance(sent_at, datetime) else datetime.fromisoformat(sent_at))
        )
    return message
