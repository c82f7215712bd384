"""Customers' orders: place, look up with the order token, the receipt."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

import grpc
from fastapi import APIRouter, Header, Query, Response

from command_api import translate
from command_api.clients import CUSTOMER, WEBHOOK, ServiceClients
from command_api.models import OrderCreate, OrderPublic, ReceiptEvent, ReceiptPublic, ReceiptTicket
from protos.ticketing.v1 import payments_pb2, tickets_pb2
from services.common.http_problems import ProblemError
from services.notifications.receipt import PaidOrder, receipt_lines, receipt_pdf

router = APIRouter(tags=["orders"])

# The receipt's types, and the wildcards that mean JSON (the default).
SERVED = {"application/pdf", "application/json", "application/*", "*/*"}
QUALITY = re.compile(r"(?:^|;)\s*q\s*=\s*([01](?:\.[0-9]{0,3})?)\s*(?:;|$)")

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=255)]


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderPublic,
    responses={200: {"model": OrderPublic, "description": "the same order, placed before"}},
)
async def place_order(
    body: OrderCreate, idempotency_key: IdempotencyKey, response: Response, services: ServiceClients
) -> OrderPublic:
    """Hold tickets and open a payment; the same key and body return the same order."""
    placed = await services.orders.place(
        payments_pb2.PlaceOrderRequest(
            idempotency_key=idempotency_key, event_id=str(body.event_id),
            ticket_id=str(body.ticket_id), quantity=body.quantity, email=body.email,
            phone_number=body.phone_number,
        )
    )  # fmt: skip
    if not placed.created:
        response.status_code = 200
    return translate.order(placed.order)


async def order_with_token(
    services: ServiceClients, order_id: UUID, header: str | None, query: str | None
) -> payments_pb2.Order:
    token = header or query
    if not token:
        raise ProblemError(404, f"order {order_id} not found")
    return await services.payments.GetOrder(
        payments_pb2.GetOrderRequest(order_id=str(order_id), order_token=token[:200]),
        **services.as_caller(CUSTOMER),
    )


OrderTokenHeader = Annotated[str | None, Header(alias="X-Order-Token", max_length=200)]
OrderTokenQuery = Annotated[str | None, Query(alias="token", max_length=200)]


@router.get("/orders/{order_id}", response_model=OrderPublic)
async def get_order(
    order_id: UUID,
    services: ServiceClients,
    x_order_token: OrderTokenHeader = None,
    token: OrderTokenQuery = None,
) -> OrderPublic:
    """The order, for whoever holds its token (404 otherwise)."""
    return translate.order(await order_with_token(services, order_id, x_order_token, token))


@router.get(
    "/orders/{order_id}/receipt",
    response_model=ReceiptPublic,
    responses={200: {"content": {"application/pdf": {}}, "description": "JSON, or a PDF"}},
)
async def get_receipt(
    order_id: UUID,
    services: ServiceClients,
    x_order_token: OrderTokenHeader = None,
    token: OrderTokenQuery = None,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> ReceiptPublic | Response:
    """The receipt of a paid order (409 before payment); `Accept: application/pdf` for a PDF."""
    order = await order_with_token(services, order_id, x_order_token, token)
    if order.status not in (payments_pb2.ORDER_STATUS_PAID, payments_pb2.ORDER_STATUS_REFUNDED):
        raise ProblemError(409, "the order is not paid yet", kind="not_paid")
    try:
        concert = await services.tickets.GetConcert(
            tickets_pb2.GetConcertRequest(concert_id=order.event_id),
            **services.as_caller(WEBHOOK),
        )
    except grpc.aio.AioRpcError as error:
        raise ProblemError(503, "the event's details are unavailable; try again") from error
    ticket = next((t for t in concert.ticket_types if t.id == order.ticket_id), None)
    receipt = ReceiptPublic(
        order_id=order.id,
        event=ReceiptEvent(
            id=concert.id, title=concert.title, location=concert.location,
            date_time=translate.when(concert.date_time),
        ),
        ticket=ReceiptTicket(id=order.ticket_id, category=ticket.category if ticket else ""),
        quantity=order.quantity,
        total_amount=translate.amount(order.total_amount),
        currency=order.total_amount.currency,
        payment_ref=order.payment.payment_ref,
        paid_at=translate.when(order.paid_at),
        email=order.email,
    )  # fmt: skip
    if prefers_pdf(accept):
        return Response(
            receipt_document(receipt),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="receipt-{order.id}.pdf"'},
        )
    return receipt


def prefers_pdf(accept: str | None) -> bool:
    """Whether Accept ranks application/pdf first among the types we serve (ties: first listed)."""
    ranked = []
    for position, entry in enumerate((accept or "").split(",")):
        media_type, _, parameters = entry.partition(";")
        quality = QUALITY.search(parameters)
        weight = float(quality.group(1)) if quality else 1.0
        if weight > 0 and media_type.strip().lower() in SERVED:
            ranked.append((-weight, position, media_type.strip().lower()))
    return bool(ranked) and min(ranked)[2] == "application/pdf"


def receipt_document(receipt: ReceiptPublic) -> bytes:
    """The receipt as the PDF the receipt e-mail attaches."""
    paid = PaidOrder(
        order_id=receipt.order_id, email=receipt.email, event_title=receipt.event.title,
        event_location=receipt.event.location, event_date_time=receipt.event.date_time.isoformat(),
        ticket_category=receipt.ticket.category, quantity=receipt.quantity,
        total_amount=receipt.total_amount, currency=receipt.currency,
        payment_ref=receipt.payment_ref, paid_at=receipt.paid_at.isoformat(),
    )  # fmt: skip
    return receipt_pdf(receipt_lines(paid))
