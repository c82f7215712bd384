"""Protobuf answers of the services, turned into the gateway's public shapes."""

from __future__ import annotations

from datetime import datetime

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from command_api.models import (
    AdminEventPublic,
    AdminTicketPublic,
    OrderPublic,
    PaymentPublic,
    UserListed,
    UserPublic,
)
from domain.money import Money
from protos.ticketing.v1 import common_pb2, payments_pb2, tickets_pb2, users_pb2
from services.common.protobuf import datetime_of

CONCERT_STATUS = {
    tickets_pb2.CONCERT_STATUS_ACTIVE: "active",
    tickets_pb2.CONCERT_STATUS_INACTIVE: "inactive",
    tickets_pb2.CONCERT_STATUS_CANCELLED: "cancelled",
}
STATUS_TO_CONCERT = {name: value for value, name in CONCERT_STATUS.items()}
ORDER_STATUS = {
    payments_pb2.ORDER_STATUS_PENDING: "pending",
    payments_pb2.ORDER_STATUS_PAID: "paid",
    payments_pb2.ORDER_STATUS_FAILED: "failed",
    payments_pb2.ORDER_STATUS_EXPIRED: "expired",
    payments_pb2.ORDER_STATUS_REFUNDED: "refunded",
    payments_pb2.ORDER_STATUS_PLACED: "pending",
}
ROLE_NAMES = {
    users_pb2.ROLE_SUPERADMIN: "superadmin",
    users_pb2.ROLE_ADMIN: "admin",
    users_pb2.ROLE_AUDITOR: "auditor",
}
ROLES = {name: value for value, name in ROLE_NAMES.items()}


def when(message: Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime."""
    return datetime_of(message)


def amount(message: common_pb2.Money) -> str:
    """Money as its two-place decimal string."""
    return str(Money(message.minor_units, message.currency))


def admin_ticket(message: tickets_pb2.TicketType) -> AdminTicketPublic:
    return AdminTicketPublic(
        id=message.id,
        event_id=message.event_id,
        category=message.category,
        price=amount(message.price),
        currency=message.price.currency,
        total_stock=message.total_stock,
        sold=message.sold,
        held=message.held,
        remaining=message.remaining,
        sales_start=when(message.sales_start),
        sales_end=when(message.sales_end),
        on_sale=message.on_sale,
    )


def admin_event(message: tickets_pb2.Concert) -> AdminEventPublic:
    return AdminEventPublic(
        id=message.id,
        title=message.title,
        description=message.description,
        location=message.location,
        date_time=when(message.date_time),
        status=CONCERT_STATUS[message.status],
        created_by=message.created_by,
        tickets=[admin_ticket(ticket) for ticket in message.ticket_types],
    )


def order(message: payments_pb2.Order) -> OrderPublic:
    payment = message.payment
    return OrderPublic(
        id=message.id,
        event_id=message.event_id,
        ticket_id=message.ticket_id,
        quantity=message.quantity,
        email=message.email,
        phone_number=message.phone_number,
        total_amount=amount(message.total_amount),
        currency=message.total_amount.currency,
        status=ORDER_STATUS[message.status],
        payment=PaymentPublic(
            payment_ref=payment.payment_ref or None,
            checkout_url=payment.checkout_url or None,
            expires_at=when(payment.expires_at) if payment.HasField("expires_at") else None,
        ),
        order_token=message.order_token,
    )


def order_json(message: payments_pb2.Order) -> bytes:
    """The JSON of `order(message)` (`OrderPublic.model_dump_json()`), written directly.

    POST /orders answers every buyer of a rush with it: orjson from the message's fields costs
    a fraction of building and dumping the pydantic model. tests/unit/test_order_json.py
    checks that both write the same bytes.
    """
    payment = message.payment
    return orjson.dumps(
        {
            "id": message.id,
            "event_id": message.event_id,
            "ticket_id": message.ticket_id,
            "quantity": message.quantity,
            "email": message.email,
            "phone_number": message.phone_number,
            "total_amount": amount(message.total_amount),
            "currency": message.total_amount.currency,
            "status": ORDER_STATUS[message.status],
            "payment": {
                "payment_ref": payment.payment_ref or None,
                "checkout_url": payment.checkout_url or None,
                "expires_at": when(payment.expires_at) if payment.HasField("expires_at") else None,
            },
            "order_token": message.order_token,
        },
        option=orjson.OPT_UTC_Z,
    )


def user(message: users_pb2.User) -> UserPublic:
    return UserPublic(id=message.id, email=message.email, role=ROLE_NAMES[message.role])


def listed_user(message: users_pb2.User) -> UserListed:
    return UserListed(
        id=message.id,
        email=message.email,
        role=ROLE_NAMES[message.role],
        created_at=when(message.created_at),
    )
