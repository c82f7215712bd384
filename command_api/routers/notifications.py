"""Admins' view of an order's receipts, and re-sending a failed one."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from command_api.auth import Admin
from command_api.clients import ServiceClients
from command_api.translate import when
from protos.ticketing.v1 import notifications_pb2, notifications_pb2_grpc

router = APIRouter(tags=["admin"])


class NotificationPublic(BaseModel):
    id: str
    order_id: str
    channel: str
    status: Literal["pending", "sending", "retrying", "sent", "failed"]
    recipient: str
    sent_at: datetime | None
    attempts: int
    last_error: str | None


class NotificationsPublic(BaseModel):
    items: list[NotificationPublic]


def notification(message: notifications_pb2.Notification) -> NotificationPublic:
    return NotificationPublic(
        id=message.id,
        order_id=message.order_id,
        channel=message.channel,
        status=message.status,  # type: ignore[arg-type]
        recipient=message.recipient,
        sent_at=when(message.sent_at) if message.HasField("sent_at") else None,
        attempts=message.attempts,
        last_error=message.last_error or None,
    )


def stub_of(request: Request) -> notifications_pb2_grpc.NotificationsServiceStub:
    stub: notifications_pb2_grpc.NotificationsServiceStub = request.app.state.notifications
    return stub


@router.get("/admin/orders/{order_id}/notifications", response_model=NotificationsPublic)
async def order_notifications(
    order_id: UUID, request: Request, caller: Admin, services: ServiceClients
) -> NotificationsPublic:
    """The receipts sent (or being sent) for an order."""
    answer = await stub_of(request).ListOrderNotifications(
        notifications_pb2.ListOrderNotificationsRequest(order_id=str(order_id)),
        **services.as_caller(caller),
    )
    return NotificationsPublic(items=[notification(item) for item in answer.items])


@router.post(
    "/admin/orders/{order_id}/notifications/{channel}/resend", response_model=NotificationPublic
)
async def resend_notification(
    order_id: UUID, channel: Literal["email"], request: Request, caller: Admin,
    services: ServiceClients,
) -> NotificationPublic:  # fmt: skip
    """Send a receipt that failed for good once more."""
    answer = await stub_of(request).ResendNotification(
        notifications_pb2.ResendNotificationRequest(order_id=str(order_id), channel=channel),
        **services.as_caller(caller),
    )
    return notification(answer)
