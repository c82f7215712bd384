"""POST /orders served before the framework, for the well-formed requests of a rush.

In a rush every buyer sends the same small JSON body. This ASGI layer reads it, checks it by
exactly the rules of `OrderCreate` and the Idempotency-Key header (the same validators, and
stricter where FastAPI is lenient), places the order through the batched `OrderPlacer`, and
writes the `OrderPublic` JSON itself: no routing, dependency resolution or request model.
Anything it is not sure of (another content type, a key or field out of the plain form, a
UUID without hyphens, a large body) goes on to the app with the body replayed, and the app's
route answers it, with its problem documents. The answers of both are the same JSON.
"""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import grpc
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from command_api import translate
from command_api.clients import Services
from domain.errors import InvalidValueError
from domain.order import MAX_TICKETS_PER_ORDER, check_email, check_phone_number
from protos.ticketing.v1 import payments_pb2
from services.common import stages
from services.common.asgi import read_body, replay
from services.common.http_problems import problem_from_grpc, problem_response

log = logging.getLogger(__name__)

ROUTE = SimpleNamespace(path="/orders")  # for the access log's and metrics' route label
FIELDS = frozenset(("event_id", "ticket_id", "quantity", "email", "phone_number"))
UUID_TEXT = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)
MIN_KEY, MAX_KEY = 8, 255
MAX_BODY = 4096  # a plain order is ~200 bytes; anything larger is the app's to judge
JSON_HEADERS = [(b"content-type", b"application/json")]


def plain_order(body: bytes, key: str) -> payments_pb2.PlaceOrderRequest | None:
    """The PlaceOrder request for a body OrderCreate accepts as it is, or None to let the app judge.

    None never means invalid: only that the app's own validation should decide.
    """
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(fields) is not dict or fields.keys() != FIELDS:
        return None
    event_id, ticket_id = fields["event_id"], fields["ticket_id"]
    quantity, email, phone = fields["quantity"], fields["email"], fields["phone_number"]
    if not (
        type(event_id) is str
        and type(ticket_id) is str
        and UUID_TEXT.fullmatch(event_id)
        and UUID_TEXT.fullmatch(ticket_id)
        and type(quantity) is int
        and 1 <= quantity <= MAX_TICKETS_PER_ORDER
        and type(email) is str
        and type(phone) is str
        and "\x00" not in email
        and "\x00" not in key
    ):
        return None
    try:
        check_email(email)  # the domain's rules, which the route's model uses too
        check_phone_number(phone)
    except InvalidValueError:
        return None
    return payments_pb2.PlaceOrderRequest(
        idempotency_key=key,
        event_id=event_id.lower(),
        ticket_id=ticket_id.lower(),
        quantity=quantity,
        email=email,
        phone_number=phone,
    )


def json_content(headers: list[tuple[bytes, bytes]]) -> bool:
    """No content type (FastAPI reads JSON then), or application/json with parameters."""
    sent = [value for name, value in headers if name == b"content-type"]
    if not sent:
        return True
    media_type = sent[0].split(b";", 1)[0].strip().lower()
    return len(sent) == 1 and media_type == b"application/json"


class HotOrders:
    """ASGI layer in front of the app for POST /orders."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/orders":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        keys = [value for name, value in headers if name == b"idempotency-key"]
        if len(keys) != 1 or not MIN_KEY <= len(keys[0]) <= MAX_KEY or not json_content(headers):
            await self.app(scope, receive, send)
            return
        # A body too long or cut short (the client went away) is the app's to hear as it came.
        messages, body = await read_body(receive, MAX_BODY)
        request = plain_order(body, keys[0].decode("latin-1")) if body is not None else None
        if request is None:
            await self.app(scope, replay(messages, receive), send)
            return
        scope["route"] = ROUTE
        await self._place(scope, receive, send, request)

    async def _place(
        self, scope: Scope, receive: Receive, send: Send, request: payments_pb2.PlaceOrderRequest
    ) -> None:
        services: Services = scope["app"].state.services
        stages.mark("g_in", request.idempotency_key)
        try:
            placed = await services.orders.place(request)
        except grpc.aio.AioRpcError as error:
            await problem_from_grpc(error)(scope, receive, send)
            return
        except Exception:
            log.exception("unexpected error placing an order")
            await problem_response(500, "an unexpected error occurred")(scope, receive, send)
            return
        body = translate.order_json(placed.order)
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        status = 201 if placed.created else 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        stages.mark("g_out", request.idempotency_key)
