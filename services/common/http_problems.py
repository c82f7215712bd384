"""RFC 9457 problem documents: every HTTP error of the platform has this one shape."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.errors import REASON_KEY

PROBLEM_TYPE_BASE = "https://ticketing.example/problems/"

# gRPC status → HTTP status, for errors the services return to the gateway.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ProblemError(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `kind` names the problem type (such as "sold_out")."""
    title = HTTPStatus(status).phrase
    slug = kind or title.lower().replace(" ", "-")
    body = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if kind:
        body["code"] = kind
    body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def problem_from_grpc(error: grpc.aio.AioRpcError) -> JSONResponse:
    """The problem document for a service's refusal."""
    status = GRPC_TO_HTTP.get(error.code(), 502)
    reason = dict(error.trailing_metadata() or ()).get(REASON_KEY)
    detail = error.details() or error.code().name
    if status == 502:
        detail = "a service failed to answer"
    if status == 422:
        return problem_response(
            422, detail, kind=str(reason) if reason else None,
            errors=[{"field": None, "message": detail}],
        )  # fmt: skip
    return problem_response(status, detail, kind=str(reason) if reason else None)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error the app can raise answer as a problem document."""

    @app.exception_handler(ProblemError)
    async def on_problem(_request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.status, error.detail, kind=error.kind, **error.extra)

    @app.exception_handler(grpc.aio.AioRpcError)
    async def on_grpc(_request: Request, error: grpc.aio.AioRpcError) -> JSONResponse:
        return problem_from_grpc(error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in item.get("loc", ()) if part != "body"),
                "message": str(item.get("msg", "invalid")),
            }
            for item in error.errors()
        ]
        return problem_response(422, "the request is invalid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(error.status_code, str(error.detail), headers=error.headers)

    @app.exception_handler(Exception)
    async def on_unexpected(_request: Request, _error: Exception) -> JSONResponse:
        return problem_response(500, "an unexpected error occurred")
