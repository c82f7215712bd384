"""What the fast paths in front of the apps share: read a request's body, and hand it on.

A fast path (command_api/hot_orders.py, the sandbox's sandbox_hot.py) reads the body to decide
whether it can answer; when it cannot, the app must still receive the request as it came.
"""

from __future__ import annotations

from collections import deque

from starlette.types import Message, Receive


async def read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages as received, and its body unless longer than limit or cut short."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None  # the client went away: the app hears it as it would have
        size += len(message.get("body", b""))
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            break
    if len(messages) == 1:
        return messages, messages[0].get("body", b"")
    return messages, b"".join(message.get("body", b"") for message in messages)


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives back the messages already read, then the rest of the request."""
    queued = deque(messages)

    async def replayed() -> Message:
        return queued.popleft() if queued else await receive()

    return replayed
