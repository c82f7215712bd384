"""Reading an application's notification log from a position on: subscribe, or poll.

PostgreSQL recorders offer `subscribe(gt=…)` (LISTEN/NOTIFY wakes a reader thread); SQLite's
do not, so there the log is polled with `notification_log.select`. Both hand out batches of
notifications in id order, starting after the given position.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

RELAY_QUEUE_SIZE = 10_000
GATHER_SECONDS = 0.01  # how long a batch keeps gathering after its first notification


class Follower(Protocol):
    """A source of notifications after some position."""

    async def next_batch(self, limit: int, wait: float) -> Sequence[Notification]:
        """Up to limit notifications; empty if none came within wait seconds."""
        ...

    def close(self) -> None:
        """Stop reading (blocking: may join threads)."""
        ...


class PollingFollower:
    """Selects the next notifications every time it is asked."""

    def __init__(self, app: Application[UUID], after: int) -> None:
        self.app = app
        self.after = after

    async def next_batch(self, limit: int, wait: float) -> Sequence[Notification]:
        notifications = await asyncio.to_thread(
            self.app.notification_log.select, self.after + 1, limit
        )
        if not notifications:
            await asyncio.sleep(wait)
            return []
        self.after = notifications[-1].id
        return notifications

    def close(self) -> None:
        """Nothing to release."""


class SubscriptionFollower:
    """Relays a recorder subscription from its blocking iterator to the event loop.

    The relay thread appends each notification to a buffer and wakes the loop only when it is
    waiting for one; the loop takes its batches from the buffer itself. (Handing each batch
    over through a thread of the pool, as this did before, cost a thread hop per batch.)
    """

    def __init__(self, app: Application[UUID], after: int) -> None:
        self.subscription = app.recorder.subscribe(gt=after)
        self.subscription.__enter__()
        self.buffer: deque[Notification] = deque()
        self.lock = threading.Lock()  # guards the hand-over of waiter
        self.waiter: asyncio.Future[None] | None = None  # set while the loop waits
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._relay, name="projection-relay", daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        try:
            for notification in self.subscription:
                while len(self.buffer) >= RELAY_QUEUE_SIZE:  # the loop is behind: wait for it
                    if self.stopped.wait(0.01):
                        return
                if self.stopped.is_set():
                    return
                self.buffer.append(notification)
                self._wake()
        except BaseException as error:  # handed to the loop, which restarts the projector
            self.error = error
            self._wake()

    def _wake(self) -> None:
        """Wake the loop if it waits (from the relay thread)."""
        with self.lock:
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def next_batch(self, limit: int, wait: float) -> Sequence[Notification]:
        if not await self._arrival(wait):
            if self.error is not None:
                raise self.error
            return []
        # Gather what arrives in the next few milliseconds too: under a rush one batch then
        # re-renders a concert's documents once for many holds, not once per commit.
        if len(self.buffer) < limit:
            await asyncio.sleep(GATHER_SECONDS)
        return [self.buffer.popleft() for _ in range(min(limit, len(self.buffer)))]

    async def _arrival(self, wait: float) -> bool:
        """Whether a notification is buffered, waiting up to wait seconds for one."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.buffer or self.error is not None:
                return bool(self.buffer)
            waiter = self.waiter = loop.create_future()
        timer = loop.call_later(wait, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            with self.lock:
                if self.waiter is waiter:
                    self.waiter = None
        return bool(self.buffer)

    def close(self) -> None:
        self.stopped.set()
        self.subscription.__exit__(None, None, None)
        self.thread.join(timeout=5)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def open_follower(app: Application[UUID], after: int) -> Follower:
    """Subscribe where the recorder can; poll where it cannot (SQLite)."""
    try:
        return SubscriptionFollower(app, after)
    except NotImplementedError:
        return PollingFollower(app, after)
