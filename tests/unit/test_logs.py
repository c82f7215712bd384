"""Log lines: JSON with the context's service and request id, or text; request ids checked."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.common.logs import (
    REQUEST_ID,
    SERVICE,
    ContextFilter,
    JsonFormatter,
    accepted_request_id,
    request_id_metadata,
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
