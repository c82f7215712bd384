"""Log lines: JSON with the context's service and request id, or text; request ids checked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from datetime import datetime, timedelta

import pytest

from services.common import logs
from services.common.logs import (
    REQUEST_ID,
    SERVICE,
    ContextFilter,
    FastLines,
    JsonFormatter,
    accepted_request_id,
    request_id_metadata,
    setup_logging,
    uses_json,
)
from services.common.settings import Settings


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_a_json_line_carries_the_service_request_id_and_extras(captured):
    logger, stream = captured
    service, request = SERVICE.set("payments"), REQUEST_ID.set("req-42")
    try:
        logger.info("order %s placed", "o-1", extra={"order_id": "o-1"})
    finally:
        SERVICE.reset(service)
        REQUEST_ID.reset(request)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "order o-1 placed"
    assert (line["level"], line["logger"]) == ("INFO", "tests.logs")
    assert (line["service"], line["request_id"], line["order_id"]) == ("payments", "req-42", "o-1")
    assert line["ts"].endswith("+00:00")


def test_an_exception_is_one_line_with_its_traceback(captured):
    logger, stream = captured
    try:
        int("boom")
    except ValueError:
        logger.exception("failed")
    [text] = stream.getvalue().splitlines()
    line = json.loads(text)
    assert line["request_id"] is None
    assert "ValueError: invalid literal" in line["exc"]


@pytest.mark.parametrize("sent", ["abc-123", "0f" * 16, "req.1:2@gw/x+y=z"])
def test_a_plain_client_request_id_is_kept(sent):
    assert accepted_request_id(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "new\nline", "<script>"])
def test_an_unusable_client_request_id_is_replaced(sent):
    made = accepted_request_id(sent)
    assert made != sent
    assert accepted_request_id(made) == made


def test_the_request_id_is_forwarded_only_inside_a_request():
    assert request_id_metadata() == ()
    token = REQUEST_ID.set("req-7")
    try:
        assert request_id_metadata() == (("x-request-id", "req-7"),)
    finally:
        REQUEST_ID.reset(token)


def test_the_format_is_what_the_environment_asks_for():
    assert uses_json(Settings(ticketing_log_format="json"))
    assert not uses_json(Settings(ticketing_log_format="TEXT"))


class CountingBytes(io.BytesIO):
    writes = 0

    def write(self, data):  # type: ignore[override]
        self.writes += 1
        return super().write(data)


@pytest.fixture
def process_logging(monkeypatch):
    """setup_logging as a process does it, onto a stderr the test reads; undone after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    binary = CountingBytes()
    stderr = io.TextIOWrapper(binary, encoding="utf-8")

    def setup(log_format: str) -> None:
        # In the test itself: pytest swaps sys.stderr between a test's phases.
        monkeypatch.setattr(sys, "stderr", stderr)
        setup_logging(Settings(ticketing_log_format=log_format, ticketing_log_level="INFO"), "gw")

    def read() -> list[str]:
        stderr.flush()
        return binary.getvalue().decode().splitlines()

    yield setup, binary, read
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    monkeypatch.setattr(logs, "_json_handler", None)


async def test_fast_lines_are_the_lines_the_logger_writes_gathered_into_one_write_per_turn(
    process_logging,
):
    setup, binary, read = process_logging
    setup("json")
    logger = logging.getLogger("tests.fast-lines")
    fast = FastLines(logger)
    extra = {"method": "GET", "path": "/events/x", "route": "/events/{event_id}", "status": 200}
    REQUEST_ID.set("req-fast")
    logger.info("%s", "GET /events/x 200", extra=extra)
    before = binary.writes
    for _ in range(3):
        fast.info("GET /events/x 200", extra)
    assert len(read()) == 1  # nothing yet: the lines wait for the end of this loop turn
    await asyncio.sleep(0)
    plain, *gathered = (json.loads(line) for line in read())
    assert binary.writes == before + 1
    assert len(gathered) == 3
    written = datetime.fromisoformat(plain.pop("ts"))
    for line in gathered:
        assert abs(datetime.fromisoformat(line.pop("ts")) - written) < timedelta(seconds=1)
        assert line == plain  # every other field, and the same key order
        assert list(line) == list(plain)
    assert plain["request_id"] == "req-fast"
    assert plain["service"] == "gw"
    logger.setLevel(logging.WARNING)
    fast.info("GET /events/x 200", extra)
    await asyncio.sleep(0)
    assert len(read()) == 4  # below the logger's level: not written


async def test_fast_lines_go_through_the_logger_when_lines_are_text(process_logging):
    setup, _, read = process_logging
    setup("text")
    REQUEST_ID.set("req-text")
    FastLines(logging.getLogger("tests.fast-text")).info("GET / 200", {"status": 200})
    [line] = read()
    assert line.endswith("INFO gw tests.fast-text [req-text] GET / 200")
