"""The gateway's request ids, access log and HTTP metrics, and its /metrics page."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.logs import (
    REQUEST_ID,
    REQUEST_ID_HEADER,
    SERVICE,
    FastLines,
    accepted_request_id,
)
from services.common.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("command_api.access")
access_lines = FastLines(log)

# Requests that matched no route share one label, so a scanner cannot explode the series.
UNMATCHED = "unmatched"


class RequestContextMiddleware:
    """Give each request an id (the client's X-Request-ID, or a new one) and account for it.

    The id is in the logging context while the request is handled (so the gRPC clients
    forward it), is returned in the response's X-Request-ID, and is on the access log line.
    """

    def __init__(self, app: ASGIApp, service: str = "gateway") -> None:
        self.app = app
        self.service = service
        # The metrics' children by label values: `labels()` costs more than the sample.
        self._latency: dict[tuple[str, str], Any] = {}
        self._requests: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or ()).get(REQUEST_ID_HEADER.encode())
        request_id = accepted_request_id(sent.decode("latin-1") if sent else None)
        REQUEST_ID.set(request_id)
        SERVICE.set(self.service)
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or ())
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
                elapsed = time.perf_counter() - started
                labels = (route_of(scope), scope["method"])
                latency = self._latency.get(labels)
                if latency is None:
                    latency = self._latency[labels] = HTTP_LATENCY.labels(*labels)
                latency.observe(elapsed)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_of(scope)
            counted = (route, scope["method"], str(status))
            requests = self._requests.get(counted)
            if requests is None:
                requests = self._requests[counted] = HTTP_REQUESTS.labels(*counted)
            requests.inc()
            access_lines.info(
                f"{scope['method']} {scope['path']} {status}",
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


def route_of(scope: Scope) -> str:
    """The matched route's template (`/orders/{order_id}`), never the raw path."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


async def metrics_page() -> Response:
    """Prometheus metrics of this process (of all workers, if several), as text."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
