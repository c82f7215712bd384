"""Logging for every process: JSON lines or text, each record with its service and request id.

A request id is born at the gateway (the client's `X-Request-ID`, or a new one), travels in
gRPC metadata as `x-request-id` on every call it causes, and sits in a context variable while
a request or call is handled, so that every log line written on its behalf carries it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from services.common.settings import Settings

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Which part of the system is at work: the process's name, or (in the one-process embedded
# mode) the service whose task or call this is.
SERVICE: ContextVar[str] = ContextVar("service", default="ticketing")

# A client's id is kept only if it is short and plain, so logs and headers stay safe to read.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of msg with terminal colours
}


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def accepted_request_id(sent: str | None) -> str:
    """The client's request id if it is acceptable, else a new one."""
    if sent and _ACCEPTABLE_ID.fullmatch(sent):
        return sent
    return new_request_id()


def request_id_metadata() -> tuple[tuple[str, str], ...]:
    """gRPC metadata that forwards the current request id (none outside a request)."""
    request_id = REQUEST_ID.get()
    return ((REQUEST_ID_HEADER, request_id),) if request_id else ()


class ContextFilter(logging.Filter):
    """Stamps each record with the service and request id of the context that wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "service"):
            record.service = SERVICE.get()
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, service, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "service": getattr(record, "service", SERVICE.get()),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(line, default=str).decode()
        except TypeError:  # what orjson refuses (an int beyond 64 bits, a key not a str)
            return json.dumps(line, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s [%(request_id)s] %(message)s"


def uses_json(settings: Settings) -> bool:
    """JSON unless asked for text, or unless nobody asked and stderr is a terminal."""
    if settings.ticketing_log_format is not None:
        return settings.ticketing_log_format == "json"
    return not sys.stderr.isatty()


def setup_logging(settings: Settings, service: str) -> None:
    """Send every logger's records (uvicorn's and gRPC's too) to stderr in the chosen format."""
    SERVICE.set(service)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if uses_json(settings) else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.ticketing_log_level)
    # uvicorn configures its own handlers unless told not to (log_config=None); make its
    # loggers hand records to ours. Its access log is replaced by the gateway's own line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # One line per outgoing HTTP call (readiness checks, the sandbox) is noise at INFO.
    if root.level > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)
