"""HTTP edges shared by the read routers: cached responses and query parameters."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from fastapi import Request, Response

from command_api.auth import current_identity
from projections.documents import etag_of
from projections.keys import MEMBER_END, time_key
from query_api.read_models import decode_cursor
from services.common.http_problems import ProblemError
from services.common.identity import Identity

PUBLIC_CACHE = "public, max-age=1"
PRIVATE_CACHE = "private, no-cache"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def stored_json(
    request: Request, body: bytes, cache_control: str, etag: str | None = None
) -> Response:
    """The bytes as they are, with ETag and Cache-Control; 304 when If-None-Match matches."""
    etag = etag or etag_of(body)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


def matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of If-None-Match against an ETag (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def invalid(field: str, message: str) -> ProblemError:
    """A 422 problem naming one bad query parameter."""
    return ProblemError(
        422, "the request is invalid", errors=[{"field": f"query.{field}", "message": message}]
    )


def parse_moment(field: str, value: str | None, *, end_of_day: bool) -> datetime | None:
    """A date (YYYY-MM-DD, the whole UTC day) or an ISO 8601 time with an offset; naive: 422.

    A `+` of an offset that arrived unencoded in a query string reads as a space: taken back.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise invalid(field, "not a valid date") from None
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        raise invalid(field, "not an ISO 8601 date or time") from None
    if moment.utcoffset() is None:
        raise invalid(field, "a time needs its UTC offset, such as +00:00")
    return moment


def lex_range(
    cursor: str | None, after: datetime | None, before: datetime | None
) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds for a page: past the cursor (else from `after`), up to `before`.

    A cursor already lies past `after`, since it came from a page of the same query.
    """
    start = b"[" + time_key(after).encode() if after else b"-"
    if cursor:
        member = decode_cursor(cursor)
        if member is None:
            raise invalid("cursor", "not a cursor this API handed out")
        start = b"(" + member
    end = b"[" + (time_key(before) + MEMBER_END).encode() if before else b"+"
    return start, end


async def optional_identity(request: Request) -> Identity | None:
    """The caller if a bearer token came (a bad one is 401); None for anonymous callers."""
    if "authorization" not in request.headers:
        return None
    return await current_identity(request)
