"""The payment provider's side of the origin: its webhook, and the sandbox's customer pages."""

from __future__ import annotations

import re

import grpc
import httpx
from fastapi import APIRouter, Request, Response

from command_api.clients import WEBHOOK, ServiceClients
from protos.ticketing.v1 import payments_pb2
from services.common.http_problems import ProblemError, problem_response
from services.payments.providers.base import InvalidWebhookError

router = APIRouter(tags=["payments"])
# Payment references are URL-safe tokens; anything else cannot name a payment.
SAFE_PATH = re.compile(r"/sandbox/(checkout|payments)/[A-Za-z0-9_-]{1,100}(/complete)?")


@router.post("/payments/webhook", status_code=204)
async def payment_webhook(request: Request, services: ServiceClients) -> Response:
    """A signed notice from the provider: 204 once applied (repeats too), 400 if forged."""
    body = await request.body()
    try:
        event = request.app.state.provider.parse_webhook(dict(request.headers), body)
    except InvalidWebhookError as error:
        raise ProblemError(400, f"bad webhook: {error}") from None
    try:
        await services.payments.ConfirmPayment(
            payments_pb2.ConfirmPaymentRequest(payment_ref=event.payment_ref),
            **services.as_caller(WEBHOOK),
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return Response(status_code=204)  # not one of ours: nothing to retry
        # Anything else is ours to fix; a non-2xx makes the provider deliver it again.
        return problem_response(503, "the payment could not be applied yet; retry")
    return Response(status_code=204)


async def forward(request: Request, path: str) -> Response:
    """Pass a customer's request to the sandbox process and its answer back."""
    if not SAFE_PATH.fullmatch(path):
        return problem_response(404, "no such payment")
    client: httpx.AsyncClient = request.app.state.sandbox_http
    try:
        answer = await client.request(
            request.method,
            path,
            content=await request.body(),
            headers={
                name: value
                for name, value in request.headers.items()
                if name.lower() in {"content-type", "accept", "accept-language"}
            },
        )
    except httpx.HTTPError:
        return problem_response(503, "the payment sandbox is unavailable")
    headers = {
        name: value
        for name, value in answer.headers.items()
        if name.lower() in {"content-type", "location", "cache-control", "content-security-policy"}
    }
    return Response(answer.content, status_code=answer.status_code, headers=headers)


@router.get("/sandbox/checkout/{payment_ref}", include_in_schema=True)
async def sandbox_checkout(payment_ref: str, request: Request) -> Response:
    """The sandbox's checkout page, where the customer pays or declines."""
    return await forward(request, f"/sandbox/checkout/{payment_ref}")


@router.post("/sandbox/payments/{payment_ref}/complete")
async def sandbox_complete(payment_ref: str, request: Request) -> Response:
    """What the customer's click does: body {"outcome": "succeeded" | "declined"}."""
    return await forward(request, f"/sandbox/payments/{payment_ref}/complete")


@router.get("/sandbox/payments/{payment_ref}")
async def sandbox_status(payment_ref: str, request: Request) -> Response:
    """The sandbox's view of a payment."""
    return await forward(request, f"/sandbox/payments/{payment_ref}")
