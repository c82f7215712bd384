"""The sandbox's hottest calls, served before the framework: POST /sandbox/payments and its
batch form, POST /sandbox/payments/batch.

In a rush every order opens one payment. This ASGI layer reads the body with orjson, queues
the payments for the next group-committed insert, and writes the answer with orjson: no
routing, no model validation, no thread hop per request. It answers only a body that
PaymentCreate (PaymentCreateBatch) certainly accepts; a single create only with a payment
that was created or found with that amount (a batch answers a conflict in its place, as the
route does).
Anything else (another content type, bad JSON, a field the model would refuse, a body too
long to buffer, an amount that conflicts with the order's payment) goes on to the app with
the body as it came, and the route gives its usual answer, problem documents included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common import stages
from services.common.asgi import read_body, replay
from services.payments.providers.base import InvalidPaymentStateError
from services.payments.providers.sandbox_requests import (
    read_payment_create,
    read_payment_create_batch,
)
from services.payments.providers.sandbox_store import NewPayment, SandboxPayment

PATH = "/sandbox/payments"
BATCH_PATH = "/sandbox/payments/batch"
JSON = b"application/json"
# A valid body is far shorter (its fields are at most ~1,100 characters); a longer one can
# only be padding, and the route reads it as it always did.
MAX_BODY_BYTES = 64 * 1024
# A batch's body: up to MAX_BATCH_CREATES payments of the size above.
MAX_BATCH_BODY_BYTES = 1024 * 1024

Create = Callable[[NewPayment], Awaitable[tuple[SandboxPayment, bool]]]
Outcome = tuple[SandboxPayment, bool] | Exception
CreateMany = Callable[[Sequence[NewPayment]], Awaitable[list[Outcome]]]
Document = Callable[[SandboxPayment], dict[str, str]]


def batch_answer(
    outcomes: Sequence[Outcome], document: Document
) -> dict[str, list[dict[str, Any]]]:
    """A batch's answer: each payment in its request's place with the status a create of it
    alone would have had (201 new, 200 found again), or the 409 problem of an amount that
    conflicts with its order's payment. Any other error fails the whole request."""
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        if isinstance(outcome, InvalidPaymentStateError):
            problem = {"type": "about:blank", "title": "Conflict", "status": 409}
            results.append({"status": 409, "problem": problem | {"detail": str(outcome)}})
        elif isinstance(outcome, Exception):
            raise outcome
        else:
            payment, created = outcome
            results.append({"status": 201 if created else 200, "payment": document(payment)})
    return {"results": results}


class HotCreates:
    """ASGI layer in front of the sandbox app for creating payments."""

    def __init__(
        self, app: ASGIApp, create: Create, document: Document, create_many: CreateMany
    ) -> None:
        self.app = app
        self.create = create
        self.create_many = create_many
        self.document = document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (path := scope["path"]) not in (PATH, BATCH_PATH)
            or scope.get("root_path")
            or not is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        if path == PATH:
            messages, body = await read_body(receive, MAX_BODY_BYTES)
            answered = body is not None and await self._answer(body, send)
        else:
            messages, body = await read_body(receive, MAX_BATCH_BODY_BYTES)
            answered = body is not None and await self._answer_batch(body, send)
        if not answered:
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
        await respond(send, 201 if created else 200, orjson.dumps(self.document(payment)))
        stages.mark("s_out", request.order_id)
        return True

    async def _answer_batch(self, body: bytes, send: Send) -> bool:
        requests = read_payment_create_batch(body)
        if requests is None:
            return False
        tracing = stages.enabled()
        if tracing:
            for request in requests:
                stages.mark("s_in", request.order_id)
        outcomes = await self.create_many(requests)
        if tracing:
            for request in requests:
                stages.mark("s_created", request.order_id)
        await respond(send, 200, orjson.dumps(batch_answer(outcomes, self.document)))
        if tracing:
            for request in requests:
                stages.mark("s_out", request.order_id)
        return True


async def respond(send: Send, status: int, content: bytes) -> None:
    """A JSON answer, its head and body sent in one step."""
    headers = [(b"content-length", b"%d" % len(content)), (b"content-type", JSON)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def is_json(scope: Scope) -> bool:
    """The request says its body is JSON (the route reads any body as JSON; this is caution)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.partition(b";")[0].strip().lower()
            return media_type == JSON
    return False
