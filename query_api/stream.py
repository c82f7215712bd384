"""GET /admin/insights/stream: Server-Sent Events of insights as sales, holds and releases land.

The projectors PUBLISH `{"event_id", "admin_id"}` when an event's insights change; each stream
sends the caller the current document of every change it may see (an admin: their own events;
an auditor or superadmin: all), and a comment line as a heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import orjson
from redis.asyncio import Redis

from query_api.read_models import ReadModels
from services.common.identity import Identity

POLL_SECONDS = 1.0


def may_see(identity: Identity, admin_id: str) -> bool:
    """Admins follow their own events; auditors and superadmins follow every event."""
    return identity.role != "admin" or identity.subject == admin_id


async def insights_events(
    redis: Redis, read_models: ReadModels, identity: Identity, heartbeat_seconds: float
) -> AsyncIterator[bytes]:
    """Subscribe now, then yield SSE chunks until the client goes (the stream is cancelled)."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(read_models.keyspace.insights_channel)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": subscribed\n\n"
            beat = time.monotonic()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=min(POLL_SECONDS, heartbeat_seconds)
                )
                if message is not None and message["type"] == "message":
                    chunk = await insights_chunk(read_models, identity, message["data"])
                    if chunk:
                        yield chunk
                if time.monotonic() - beat >= heartbeat_seconds:
                    beat = time.monotonic()
                    yield b": heartbeat\n\n"
        finally:
            with anyio.CancelScope(shield=True):
                await pubsub.unsubscribe()
                await pubsub.aclose()

    return stream()


async def insights_chunk(read_models: ReadModels, identity: Identity, data: bytes) -> bytes | None:
    """The `insights` event for one announcement, if the caller may see it and it exists."""
    try:
        announcement = orjson.loads(data)
        event_id, admin_id = str(announcement["event_id"]), str(announcement["admin_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not may_see(identity, admin_id):
        return None
    document = await read_models.document("insights", event_id)
    if document is None:
        return None
    return (
        b"event: insights\nid: "
        + document.etag.strip('"').encode()
        + b"\ndata: "
        + document.body
        + b"\n\n"
    )
