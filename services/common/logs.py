"""Logging for every process: JSON lines or text, each record with its service and request id.

A request id is born at the gateway (the client's `X-Request-ID`, or a new one), travels in
gRPC metadata as `x-request-id` on every call it causes, and sits in a context variable while
a request or call is handled, so that every log line written on its behalf carries it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import re
import sys
import threading
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from services.common import stages
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


def json_line(
    when: datetime,
    level: str,
    logger: str,
    message: str,
    service: str,
    request_id: str | None,
    extras: Iterable[tuple[str, Any]],
) -> dict[str, Any]:
    """A JSON line's fields: ts, level, logger, msg, service, request_id, then the extras (none
    of which replaces one of those)."""
    line: dict[str, Any] = {
        "ts": when.isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "msg": message,
        "service": service,
        "request_id": request_id,
    }
    for key, value in extras:
        line.setdefault(key, value)
    return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, service, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = json_line(
            datetime.fromtimestamp(record.created, UTC),
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "service", SERVICE.get()),
            getattr(record, "request_id", None),
            ((key, value) for key, value in vars(record).items() if key not in _STANDARD),
        )
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


_json_handler: logging.StreamHandler | None = None  # type: ignore[type-arg]


def setup_logging(settings: Settings, service: str) -> None:
    """Send every logger's records (uvicorn's and gRPC's too) to stderr in the chosen format."""
    global _json_handler  # noqa: PLW0603 (one per process, like the root logger's handlers)
    SERVICE.set(service)
    stages.configure(settings.ticketing_stage_trace)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    as_json = uses_json(settings)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.ticketing_log_level)
    _json_handler = handler if as_json else None
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


class FastLines:
    """INFO lines of one logger, written as JsonFormatter would write them but without a
    LogRecord each, and gathered per event-loop turn into one write.

    For the gateway's access log: a line per request was about a quarter of the gateway's
    CPU on the hottest reads (the record, its filter, the formatter, a write and a flush
    each). Where this cannot be exact it does not try: without setup_logging's JSON handler
    (text lines, tests), with filters or handlers on the logger, or off the event loop, each
    line goes through the logger as any other.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        atexit.register(self.flush)

    def info(self, message: str, extra: dict[str, Any]) -> None:
        """Log `message` at INFO with `extra`, as `logger.info(message, extra=extra)` would."""
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = _json_handler
        if handler is None or logger.filters or logger.handlers or not logger.propagate:
            logger.info("%s", message, extra=extra)
            return
        line = json_line(
            datetime.now(UTC),
            "INFO",
            logger.name,
            message,
            SERVICE.get(),
            REQUEST_ID.get(),
            extra.items(),
        )
        try:
            data = orjson.dumps(line, default=str) + b"\n"
            loop = asyncio.get_running_loop()
        except (TypeError, RuntimeError):  # what orjson refuses; no loop to flush on
            logger.info("%s", message, extra=extra)
            return
        with self._lock:
            self._pending.append(data)
            first = len(self._pending) == 1
        if first:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is gathered, under the handler's lock (other threads log too)."""
        with self._lock:
            pending, self._pending = self._pending, []
        handler = _json_handler
        if not pending or handler is None:
            return
        data = b"".join(pending)
        with handler.lock or contextlib.nullcontext():
            stream = handler.stream
            try:
                binary = stream.buffer
            except AttributeError:  # a text-only stream
                stream.write(data.decode())
                stream.flush()
            else:
                stream.flush()  # what the handler wrote first
                binary.write(data)
                binary.flush()
