"""Prometheus metrics of every process, in the client library's default registry.

The gateway serves them at `/metrics` on its own port; any other process serves them on
TICKETING_METRICS_PORT when it is set. In the one-process embedded mode one registry holds
every service's metrics, so the gateway's `/metrics` shows them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from services.common.settings import Settings

log = logging.getLogger(__name__)

# Seconds: from a cache hit to a slow batch under a rush.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "ticketing_http_requests_total",
    "HTTP requests answered by the gateway, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "ticketing_http_request_duration_seconds",
    "Time from a request's arrival to its response's start, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_REQUESTS = Counter(
    "ticketing_grpc_requests_total",
    "gRPC calls handled, by full method name and status code.",
    ["method", "code"],
)
GRPC_LATENCY = Histogram(
    "ticketing_grpc_request_duration_seconds",
    "Time to handle one gRPC call, by full method name.",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
HOLDS = Counter(
    "ticketing_holds_total",
    "Holds that changed state, as saved in the tickets store: placed, confirmed, released "
    "(declined or cancelled), expired, refunded.",
    ["change"],
)
TICKETS_SOLD = Counter(
    "ticketing_tickets_sold_total", "Tickets whose hold was confirmed by a payment."
)
ORDERS = Counter(
    "ticketing_orders_total",
    "Order changes saved by the payments service: placed, paid, failed, expired, refunded.",
    ["change"],
)
BATCH_SIZE = Histogram(
    "ticketing_group_commit_batch_size",
    "Commands applied together in one group-commit batch, by queue.",
    ["queue"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
PROJECTION_LAG_NOTIFICATIONS = Gauge(
    "ticketing_projection_lag_notifications",
    "Notifications in an event log that its read-model projector has not applied yet.",
    ["log"],
)
PROJECTION_LAG_SECONDS = Gauge(
    "ticketing_projection_lag_seconds",
    "How long a projector has been behind its log (0 when it has applied everything).",
    ["log"],
)
OUTBOX_LAG_NOTIFICATIONS = Gauge(
    "ticketing_outbox_lag_notifications",
    "Notifications of the payments log that the outbox relay has not looked at yet.",
)
QUEUE_DEPTH = Gauge(
    "ticketing_receipts_queue_depth",
    "Receipt messages waiting in the queue (RabbitMQ's count, or the in-process queue's).",
)
RECEIPTS = Counter(
    "ticketing_receipts_total",
    "Receipt messages settled by the consumer, by outcome: ack, dead, requeue.",
    ["outcome"],
)

# Domain event names (the class's qualified name) and what each one counts.
_HOLD_CHANGES = {
    "TicketType.Reserved": "placed",
    "TicketType.Confirmed": "confirmed",
    "TicketType.Released": "released",
    "TicketType.Expired": "expired",
    "TicketType.Refunded": "refunded",
}
_ORDER_CHANGES = {
    "Order.Placed": "placed",
    "Order.Paid": "paid",
    "Order.Failed": "failed",
    "Order.Expired": "expired",
    "Order.Refunded": "refunded",
}


def count_saved_events(
    events: Iterable[object], sold_quantity: Callable[[str], int] | None = None
) -> None:
    """Count the holds, sales and order changes among events that were just saved.

    A confirmation names only its order: sold_quantity(order_id) says how many it sold.
    """
    for event in events:
        name = type(event).__qualname__
        if name == "TicketType.HoldsReserved":
            HOLDS.labels("placed").inc(len(getattr(event, "holds", ())))
        elif name in _HOLD_CHANGES:
            HOLDS.labels(_HOLD_CHANGES[name]).inc()
            if name == "TicketType.Confirmed" and sold_quantity is not None:
                TICKETS_SOLD.inc(sold_quantity(str(getattr(event, "order_id", ""))))
        elif name in _ORDER_CHANGES:
            ORDERS.labels(_ORDER_CHANGES[name]).inc()


def serve_metrics(settings: Settings) -> int | None:
    """Serve /metrics on TICKETING_METRICS_PORT (a thread) if it is set; the port, or None."""
    port = settings.ticketing_metrics_port
    if port is None:
        return None
    start_http_server(port, addr=settings.ticketing_host)
    log.info("metrics at http://%s:%d/metrics", settings.ticketing_host, port)
    return port


# FastAPI's own OpenTelemetry hooks, switched off in every app: we export Prometheus metrics
# and JSON logs ourselves, and with no OpenTelemetry SDK configured FastAPI still asked the
# OpenTelemetry API (which reads os.environ) on every request, about a tenth of the sandbox's
# CPU in a rush.
FASTAPI_TELEMETRY_OFF: dict[str, bool] = {"tracing": False, "metrics": False, "logs": False}
