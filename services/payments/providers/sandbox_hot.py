"""The sandbox's hottest call, served before the framework: POST /sandbox/payments.

In a rush every order opens one payment. This ASGI layer reads the body with orjson, queues
the payment for the next group-committed insert, and writes the answer with orjson: no
routing, no model validation, no thread hop per request. It answers only a body that
PaymentCreate certainly accepts and a payment that was created or found with that amount.
Anything else (another content type, bad JSON, a field the model would refuse, a body too
long to buffer, an amount that conflicts with the order's payment) goes on to the app with
the body as it came, and the route gives its usual answer, problem documents included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common import stages
from services.common.asgi import read_body, replay
from services.payments.providers.base import InvalidPaymentStateError
from services.payments.providers.sandbox_requests import read_payment_create
from services.payments.providers.sandbox_store import NewPayment, SandboxPayment

PATH = "/sandbox/payments"
JSON = b"application/json"
# A valid body is far shorter (its fields are at most ~1,100 characters); a longer one can
# only be padding, and the route reads it as it always did.
MAX_BODY_BYTES = 64 * 1024

Create = Callable[[NewPayment], Awaitable[tuple[SandboxPayment, bool]]]
Document = Callable[[SandboxPayment], dict[str, str]]


class HotCreates:
    """ASGI layer in front of the sandbox app for creating payments."""

    def __init__(self, app: ASGIApp, create: Create, document: Document) -> None:
        self.app = app
        self.create = create
        self.document = document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("root_path")
            or not is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        messages, body = await read_body(receive, MAX_BODY_BYTES)
        if body is None or not await self._answer(body, send):
            await self.app(scope, replay(messages, receive), send)

    async def _answer(self, body: bytes, send: Send) -> bool:
        request = read_payment_create(body)
        if request is None:
            return False
        stages.mark("s_in", request.order_id)
        try:
            payment, created = await self.create(request)
        except InvalidPaymentStateError:
            return False  # the route finds the same conflict and answers its 409
        stages.mark("s_created", request.order_id)
        content = orjson.dumps(self.document(payment))
        headers = [(b"content-length", b"%d" % len(content)), (b"content-type", JSON)]
        await send(
            {"type": "http.response.start", "status": 201 if created else 200, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})
        stages.mark("s_out", request.order_id)
        return True


def is_json(scope: Scope) -> bool:
    """The request says its body is JSON (the route reads any body as JSON; this is caution)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.partition(b";")[0].strip().lower()
            return media_type == JSON
    return False
