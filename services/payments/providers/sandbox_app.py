"""The payment sandbox's HTTP side: its API, the hosted checkout page and webhook delivery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from functools import partial
from html import escape
from http import HTTPStatus
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, quote

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.money import Money
from services.common import collector
from services.common.group_commit import BatchQueue
from services.common.metrics import FASTAPI_TELEMETRY_OFF
from services.common.settings import Settings
from services.payments.providers.base import (
    InvalidPaymentStateError,
    PaymentNotFoundError,
    PaymentStatus,
)
from services.payments.providers.sandbox import SIGNATURE_HEADER, signature_header
from services.payments.providers.sandbox_hot import HotCreates, batch_answer
from services.payments.providers.sandbox_requests import (
    PaymentCompletion,
    PaymentCreate,
    PaymentCreateBatch,
)
from services.payments.providers.sandbox_store import (
    NewPayment,
    SandboxPayment,
    SandboxStore,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
FORM = "application/x-www-form-urlencoded"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # A payment page must not be framed (clickjacking) and needs nothing but its own forms.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}
Model = TypeVar("Model", bound=BaseModel)


class SandboxPaymentPublic(BaseModel):
    """A payment as the sandbox shows it."""

    payment_ref: str
    order_id: str
    status: Literal["pending", "succeeded", "declined", "refunded"]
    amount: str
    currency: str
    description: str
    checkout_url: str
    created_at: str
    updated_at: str


class PaymentProblem(BaseModel):
    """A problem document (RFC 9457), in a batch's answer."""

    type: str
    title: str
    status: int
    detail: str


class PaymentBatchResult(BaseModel):
    """One payment of a batch: the status a create of it alone would have had, and the
    payment (201, 200) or the problem (409)."""

    status: Literal[200, 201, 409]
    payment: SandboxPaymentPublic | None = None
    problem: PaymentProblem | None = None


class PaymentBatchResults(BaseModel):
    """A batch's answer, each result in its request's place."""

    results: list[PaymentBatchResult]


class BodyInvalidError(Exception):
    """A request body that is not JSON, or not the expected shape."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid request body")
        self.errors = errors


def problem(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def invalid_body(error: BodyInvalidError) -> JSONResponse:
    """The 422 problem naming each bad field."""
    return problem(
        422, "Unprocessable Content", "The request body is invalid.", errors=error.errors
    )


def no_such_payment(payment_ref: str) -> JSONResponse:
    """The 404 problem for an unknown payment reference."""
    return problem(404, "Not Found", f"There is no payment {payment_ref}.")


def validated(model: type[Model], data: bytes | dict[str, Any]) -> Model:
    """The body as the model, or BodyInvalidError naming each bad field."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data or b"null")
        return model.model_validate(data)
    except ValidationError as error:
        raise BodyInvalidError(
            [
                {"field": ".".join(str(part) for part in e["loc"]) or "body", "message": e["msg"]}
                for e in error.errors(include_url=False)
            ]
        ) from None


def form_fields(body: bytes) -> dict[str, Any]:
    """An urlencoded form as a dict; a repeated field stays a list, which fails validation."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a JSON body the route reads itself (to answer problems, not FastAPI's 422)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


class SandboxEndpoints:
    """The handlers behind the sandbox's routes; wake() nudges the webhook worker."""

    def __init__(self, store: SandboxStore, public_url: str, wake: Callable[[], None]) -> None:
        self.store = store
        self.origin = public_url.rstrip("/")
        self.wake = wake

    async def create_payment(self, request: Request) -> Response:
        """Start a payment for an order; a repeat for the same order returns it (200)."""
        try:
            command = validated(PaymentCreate, await request.body())
        except BodyInvalidError as error:
            return invalid_body(error)
        amount = Money.parse(command.amount, command.currency)
        create = self.store.create_payment
        try:
            payment, created = await asyncio.to_thread(
                create, command.order_id, amount, command.description, command.email
            )
        except InvalidPaymentStateError as error:
            return problem(409, "Conflict", str(error))
        return JSONResponse(self.public(payment), status_code=201 if created else 200)

    async def create_payments(self, request: Request) -> Response:
        """Start many payments at once, each as a create of it alone would (a repeat of an
        order, even earlier in the same batch, returns its payment): 200 with each one's
        status and payment, or its 409 problem, in its request's place."""
        try:
            command = validated(PaymentCreateBatch, await request.body())
        except BodyInvalidError as error:
            return invalid_body(error)
        requests = [
            NewPayment(item.order_id, Money.parse(item.amount, item.currency),
                       item.description, item.email)
            for item in command.payments
        ]  # fmt: skip
        outcomes = await asyncio.to_thread(self.store.create_payments, requests)
        return JSONResponse(batch_answer(outcomes, partial(payment_document, self.origin)))

    async def get_payment(self, payment_ref: str) -> Response:
        """The payment's current status (verify transaction status)."""
        try:
            payment = await asyncio.to_thread(self.store.get_payment, payment_ref)
        except PaymentNotFoundError:
            return no_such_payment(payment_ref)
        return JSONResponse(self.public(payment))

    async def complete_payment(self, payment_ref: str, request: Request) -> Response:
        """Pay or decline, as the customer's click does (JSON, or the checkout page's form)."""
        body = await request.body()
        if request.headers.get("content-type", "").startswith(FORM):
            return await self.complete_from_checkout(payment_ref, body)
        try:
            completion = validated(PaymentCompletion, body)
            payment = await self.complete(payment_ref, completion.outcome)
        except BodyInvalidError as error:
            return invalid_body(error)
        except PaymentNotFoundError:
            return no_such_payment(payment_ref)
        except InvalidPaymentStateError as error:
            return problem(409, "Conflict", str(error))
        return JSONResponse(self.public(payment))

    async def complete_from_checkout(self, payment_ref: str, body: bytes) -> Response:
        """The checkout page's form: back to the page, which now says how the payment ended."""
        try:
            completion = validated(PaymentCompletion, form_fields(body))
            await self.complete(payment_ref, completion.outcome)
        except BodyInvalidError as error:
            return invalid_body(error)
        except PaymentNotFoundError:
            return not_found_page()
        except InvalidPaymentStateError:
            pass  # completed before with the other outcome: the page shows which
        return RedirectResponse(checkout_path(payment_ref), status_code=303)

    async def refund_payment(self, payment_ref: str) -> Response:
        """Refund a succeeded payment; refunding it again changes nothing."""
        try:
            payment, changed = await asyncio.to_thread(self.store.refund_payment, payment_ref)
        except PaymentNotFoundError:
            return no_such_payment(payment_ref)
        except InvalidPaymentStateError as error:
            return problem(409, "Conflict", str(error))
        if changed:
            self.wake()
        return JSONResponse(self.public(payment))

    async def cancel_payment(self, payment_ref: str) -> Response:
        """Decline a payment that is still pending; an ended payment is returned as it is."""
        try:
            payment, changed = await asyncio.to_thread(self.store.cancel_payment, payment_ref)
        except PaymentNotFoundError:
            return no_such_payment(payment_ref)
        if changed:
            self.wake()
        return JSONResponse(self.public(payment))

    async def checkout(self, payment_ref: str) -> Response:
        """The hosted checkout page: pay or decline."""
        try:
            payment = await asyncio.to_thread(self.store.get_payment, payment_ref)
        except PaymentNotFoundError:
            return not_found_page()
        return HTMLResponse(checkout_page(payment), headers=PAGE_HEADERS)

    async def complete(self, payment_ref: str, outcome: PaymentStatus) -> SandboxPayment:
        """Record the outcome; a changed payment has a webhook waiting."""
        complete = self.store.complete_payment
        payment, changed = await asyncio.to_thread(complete, payment_ref, outcome)
        if changed:
            self.wake()
        return payment

    def public(self, payment: SandboxPayment) -> dict[str, Any]:
        """The payment's JSON, with its absolute checkout URL."""
        return SandboxPaymentPublic(**payment_document(self.origin, payment)).model_dump()


def payment_document(origin: str, payment: SandboxPayment) -> dict[str, str]:
    """A payment as SandboxPaymentPublic shows it (its fields in its order), checkout on origin."""
    return {
        "payment_ref": payment.payment_ref,
        "order_id": payment.order_id,
        "status": payment.status,
        "amount": str(payment.amount),
        "currency": payment.amount.currency,
        "description": payment.description,
        "checkout_url": f"{origin}{checkout_path(payment.payment_ref)}",
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
    }


def sandbox_router(store: SandboxStore, public_url: str, wake: Callable[[], None]) -> APIRouter:
    """The sandbox's routes, at absolute paths so that the gateway can mount them at its root."""
    endpoints = SandboxEndpoints(store, public_url, wake)
    router = APIRouter(prefix="/sandbox", tags=["payment sandbox"])
    payment = SandboxPaymentPublic
    router.add_api_route(
        "/payments",
        endpoints.create_payment,
        methods=["POST"],
        status_code=201,
        openapi_extra=schema_of(PaymentCreate),
        response_model=payment,
    )
    router.add_api_route(
        "/payments/batch",
        endpoints.create_payments,
        methods=["POST"],
        openapi_extra=schema_of(PaymentCreateBatch),
        response_model=PaymentBatchResults,
    )
    router.add_api_route("/payments/{payment_ref}", endpoints.get_payment, response_model=payment)
    router.add_api_route(
        "/payments/{payment_ref}/complete",
        endpoints.complete_payment,
        methods=["POST"],
        openapi_extra=schema_of(PaymentCompletion),
        response_model=payment,
    )
    router.add_api_route(
        "/payments/{payment_ref}/refund",
        endpoints.refund_payment,
        methods=["POST"],
        response_model=payment,
    )
    router.add_api_route(
        "/payments/{payment_ref}/cancel",
        endpoints.cancel_payment,
        methods=["POST"],
        response_model=payment,
    )
    router.add_api_route("/checkout/{payment_ref}", endpoints.checkout, response_class=HTMLResponse)
    return router


def checkout_path(payment_ref: str) -> str:
    """Where a payment's checkout page is, on the origin serving the sandbox."""
    return f"/sandbox/checkout/{quote(payment_ref, safe='')}"


OUTCOMES = {
    "succeeded": "Payment received. Thank you! You can close this page.",
    "declined": "Payment declined. No money was taken.",
    "refunded": "This payment was refunded.",
}


def checkout_page(payment: SandboxPayment) -> str:
    """The checkout page: the two buttons while pending, the outcome afterwards."""
    amount = f"{payment.amount} {payment.amount.currency}"
    if payment.status == "pending":
        action = f"/sandbox/payments/{quote(payment.payment_ref, safe='')}/complete"
        choice = (
            f'<form method="post" action="{escape(action)}" aria-label="Pay">'
            '<input type="hidden" name="outcome" value="succeeded">'
            f'<button type="submit" class="pay">Pay {escape(amount)}</button></form>'
            f'<form method="post" action="{escape(action)}" aria-label="Decline">'
            '<input type="hidden" name="outcome" value="declined">'
            '<button type="submit" class="decline">Decline</button></form>'
        )
    else:
        choice = f'<p role="status">{OUTCOMES[payment.status]}</p>'
    return page(
        "Checkout",
        "<p>This is the payment sandbox: no real money moves.</p>"
        '<dl><dt>Amount</dt><dd class="amount">'
        f"{escape(amount)}</dd><dt>For</dt><dd>{escape(payment.description)}</dd>"
        f"<dt>Receipt to</dt><dd>{escape(payment.email)}</dd></dl>{choice}",
    )


def not_found_page() -> HTMLResponse:
    """The page for a checkout link that leads nowhere."""
    body = "<p>There is no payment at this address. Check the link you were given.</p>"
    return HTMLResponse(page("Payment not found", body), status_code=404, headers=PAGE_HEADERS)


def page(title: str, content: str) -> str:
    """A complete, small HTML document."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Payment sandbox</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}"
        "dt{font-weight:bold}dd{margin:0 0 .75rem}.amount{font-size:1.5rem}"
        "form{display:inline-block;margin:.5rem .5rem 0 0}"
        "button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.3rem;cursor:pointer}"
        ".pay{background:#14532d;color:#fff;border:0}.decline{background:#fff;border:1px solid}"
        "button:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}"
        f"</style></head><body><main><h1>{escape(title)}</h1>{content}</main></body></html>"
    )


class WebhookDeliveryWorker:
    """Sends the outbox's webhooks, signed, retrying with exponential backoff until a 2xx."""

    def __init__(
        self,
        store: SandboxStore,
        webhook_url: str,
        secret: bytes,
        *,
        retry_base_seconds: float = 1.0,
        retry_cap_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        batch_size: int = 20,
    ) -> None:
        self.store = store
        self.webhook_url = webhook_url
        self.secret = secret
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.batch_size = batch_size
        # Longer than one attempt can take, so a lease only lapses when its worker died.
        self.lease_seconds = 3 * timeout_seconds
        self._woken = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Start delivering in the background."""
        self._stopping.clear()
        self._http = httpx.AsyncClient(timeout=self.timeout_seconds)
        self._task = asyncio.create_task(self._run(), name="sandbox-webhook-delivery")

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._woken.set()

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Finish the attempts under way (cancelling them after the grace period), then stop."""
        self._stopping.set()
        self._woken.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, grace_seconds)
            except TimeoutError:
                log.warning("webhook delivery cancelled after %.0f s at shutdown", grace_seconds)
            self._task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def backoff_seconds(self, failed_attempts: int) -> float:
        """The wait after the n-th failed attempt: base, 2·base, 4·base… up to the cap."""
        # The exponent is bounded so that a receiver down for days cannot overflow it.
        delay = self.retry_base_seconds * 2.0 ** min(failed_attempts - 1, 32)
        return min(delay, self.retry_cap_seconds)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()
            try:
                deliveries = await asyncio.to_thread(
                    self.store.claim_due_deliveries, self.batch_size, self.lease_seconds
                )
            except Exception:  # the database may be away for a while: keep trying
                log.exception("cannot read the webhook outbox")
                deliveries = []
            outcomes = await asyncio.gather(
                *(self._deliver(delivery) for delivery in deliveries), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, Exception):  # its lease lapses and it is sent again
                    log.error("webhook delivery failed", exc_info=outcome)
            if len(deliveries) < self.batch_size:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self.poll_seconds)

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        assert self._http is not None  # started
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(self.secret, delivery.body, int(time.time())),
        }
        try:
            response = await self._http.post(
                self.webhook_url, content=delivery.body, headers=headers
            )
        except asyncio.CancelledError:
            await asyncio.to_thread(self.store.release, delivery.id)
            raise
        except httpx.HTTPError as error:
            failure = f"{type(error).__name__}: {error}"
        else:
            if response.is_success:
                await asyncio.to_thread(self.store.mark_delivered, delivery.id)
                return
            failure = f"HTTP {response.status_code}"
        delay = self.backoff_seconds(delivery.attempts + 1)
        log.warning(
            "webhook %s attempt %d failed (%s); retrying in %.1f s",
            delivery.id,
            delivery.attempts + 1,
            failure,
            delay,
        )
        await asyncio.to_thread(self.store.schedule_retry, delivery.id, failure, delay)


def create_sandbox_app(
    store: SandboxStore,
    settings: Settings,
    webhook_url: str,
    *,
    retry_base_seconds: float = 1.0,
    retry_cap_seconds: float = 60.0,
    poll_seconds: float = 1.0,
    hot_creates: bool = True,
) -> FastAPI:
    """The sandbox as an app whose lifespan migrates its tables and runs the webhook worker.

    hot_creates=False leaves every create to the route (for the benchmark and the tests that
    compare the two).
    """
    worker = WebhookDeliveryWorker(
        store,
        webhook_url,
        settings.secret("sandbox_webhook"),
        retry_base_seconds=retry_base_seconds,
        retry_cap_seconds=retry_cap_seconds,
        poll_seconds=poll_seconds,
    )
    creates: BatchQueue[NewPayment, tuple[SandboxPayment, bool]] = BatchQueue(
        store.create_payments, name="sandbox_payments"
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.migrate)
        await worker.start()
        collector.settle()  # start-up's objects out of the collector's way (as in GrpcService)
        try:
            yield
        finally:
            await creates.close()
            await worker.stop()

    app = FastAPI(
        title="Payment sandbox",
        version="0.1.0",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY_OFF,
    )
    app.state.webhook_worker = worker
    app.include_router(sandbox_router(store, settings.ticketing_public_url, worker.wake))
    if hot_creates:
        # Inside FastAPI's own error handling, like a route. The app adds no middleware of its
        # own (no access log or metrics per request); one added later, below this line, wraps
        # the hot path as well.
        origin = settings.ticketing_public_url.rstrip("/")
        document = partial(payment_document, origin)
        app.add_middleware(
            HotCreates, create=creates.submit, create_many=creates.submit_many, document=document
        )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(_request: Request, error: StarletteHTTPException) -> Response:
        """Unknown paths and methods answer with a problem document too."""
        title = HTTPStatus(error.status_code).phrase
        return problem(error.status_code, title, str(error.detail), headers=error.headers)

    return app
