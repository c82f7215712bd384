"""The payments service's gRPC edge: protobuf in, one saga call, protobuf out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from domain.errors import NotFoundError
from domain.order import OrderStatus
from protos.ticketing.v1 import payments_pb2, payments_pb2_grpc
from services.common import stages
from services.common.errors import BadRequestError, status_for
from services.common.identity import require_identity
from services.common.logs import REQUEST_ID, FastLines
from services.common.protobuf import money, parse_uuid, timestamp
from services.payments.order_token import is_order_token, order_token
from services.payments.order_writer import OrderView, OrderWriter
from services.payments.saga import OrderSaga

log = logging.getLogger(__name__)
placements = FastLines(log)  # a line per order: in a rush, a thousand a second

CUSTOMERS = ("customer", "service", "superadmin", "admin", "auditor")
WEBHOOKS = ("service",)
ADMINS = ("admin", "superadmin")
MAX_ORDERS_PER_CALL = 1000

STATUS_TO_PROTO = {
    OrderStatus.PLACED: payments_pb2.ORDER_STATUS_PLACED,
    OrderStatus.REJECTED: payments_pb2.ORDER_STATUS_REJECTED,
    OrderStatus.PENDING: payments_pb2.ORDER_STATUS_PENDING,
    OrderStatus.PAID: payments_pb2.ORDER_STATUS_PAID,
    OrderStatus.FAILED: payments_pb2.ORDER_STATUS_FAILED,
    OrderStatus.EXPIRED: payments_pb2.ORDER_STATUS_EXPIRED,
    OrderStatus.REFUNDED: payments_pb2.ORDER_STATUS_REFUNDED,
}


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    """Orders: placed by customers (through the gateway), moved by webhooks and the sweep."""

    def __init__(self, saga: OrderSaga, writer: OrderWriter, token_secret: bytes) -> None:
        self.saga = saga
        self.writer = writer
        self.token_secret = token_secret

    async def PlaceOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(CUSTOMERS)
        return await self._place(request)

    async def PlaceOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(CUSTOMERS)
        if len(request.orders) > MAX_ORDERS_PER_CALL:
            raise BadRequestError(f"at most {MAX_ORDERS_PER_CALL} orders per call")
        outcomes = await asyncio.gather(*(self._place_item(item) for item in request.orders))
        if stages.enabled():
            for item in request.orders:
                stages.mark("p_done", item.order.idempotency_key)
        return payments_pb2.PlaceOrdersResponse(outcomes=outcomes)

    async def _place_item(self, item: Any) -> payments_pb2.PlaceOrderOutcome:
        """One order of a PlaceOrders call, answered as PlaceOrder would have answered it.

        Each runs in its own task (gather), so the request id set here is this order's alone.
        """
        REQUEST_ID.set(item.request_id or None)
        stages.mark("p_item", item.order.idempotency_key)
        try:
            return payments_pb2.PlaceOrderOutcome(placed=await self._place(item.order))
        except Exception as error:
            mapping = status_for(error)
            if mapping is None:
                log.exception("unexpected error placing an order")
                refusal = payments_pb2.Refusal(
                    code=grpc.StatusCode.INTERNAL.value[0], message="internal error"
                )
            else:
                refusal = payments_pb2.Refusal(
                    code=mapping.code.value[0],
                    reason=mapping.reason,
                    message=str(error) or mapping.reason,
                )
            return payments_pb2.PlaceOrderOutcome(refusal=refusal)

    async def _place(self, request: Any) -> payments_pb2.PlaceOrderResponse:
        view, created = await self.saga.place_order(
            request.idempotency_key,
            parse_uuid("event_id", request.event_id),
            parse_uuid("ticket_id", request.ticket_id),
            request.quantity,
            request.email,
            request.phone_number,
        )
        # The request id on this line ties the HTTP request to the order id, which is what
        # the relay and the receipt consumer log (and what the broker message carries).
        status = view.status.value
        placements.info(
            f"order {view.id} {'placed' if created else 'repeated'} ({status})",
            {"order_id": str(view.id), "status": status},
        )
        return payments_pb2.PlaceOrderResponse(order=self._order(view), created=created)

    async def GetOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(CUSTOMERS)
        order_id = parse_uuid("order_id", request.order_id)
        not_found = NotFoundError(f"Order {order_id} not found")
        if not is_order_token(self.token_secret, order_id, request.order_token):
            raise not_found  # never reveal that the order exists
        view = await self.writer.get(order_id)
        if view.status in (OrderStatus.PLACED, OrderStatus.REJECTED):
            raise not_found
        return self._order(view)

    async def ConfirmPayment(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(WEBHOOKS)
        if not request.payment_ref:
            raise BadRequestError("payment_ref is required")
        return self._order(await self.saga.confirm_payment(request.payment_ref))

    async def VerifyPayment(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(WEBHOOKS + ADMINS)
        return self._order(await self.saga.verify_payment(parse_uuid("order_id", request.order_id)))

    async def RefundOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_identity(ADMINS)
        order_id = parse_uuid("order_id", request.order_id)
        return self._order(await self.saga.refund_order(order_id, request.reason or "refunded"))

    def _order(self, view: OrderView) -> payments_pb2.Order:
        message = payments_pb2.Order(
            id=str(view.id),
            event_id=str(view.event_id),
            ticket_id=str(view.ticket_id),
            quantity=view.quantity,
            email=view.email,
            phone_number=view.phone_number,
            total_amount=money(view.total_amount),
            status=STATUS_TO_PROTO[view.status],
            order_token=order_token(self.token_secret, view.id),
            placed_at=timestamp(view.placed_at),
            failure_reason=view.failure_reason or "",
        )
        if view.payment_ref is not None:
            message.payment.payment_ref = view.payment_ref
            message.payment.checkout_url = view.checkout_url or ""
        if view.hold_expires_at is not None:
            message.payment.expires_at.CopyFrom(timestamp(view.hold_expires_at))
        if view.paid_at is not None:
            message.paid_at.CopyFrom(timestamp(view.paid_at))
        return message
