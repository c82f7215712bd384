"""Reading an application's notification log from a position on: subscribe, or poll.

PostgreSQL recorders offer `subscribe(gt=…)` (LISTEN/NOTIFY wakes a reader thread); SQLite's
do not, so there the log is polled with `notification_log.select`. Both hand out batches of
notifications in id order, starting after the given position.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
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
    """Relays a recorder subscription from its blocking iterator to a queue the loop drains."""

    def __init__(self, app: Application[UUID], after: int) -> None:
        self.subscription = app.recorder.subscribe(gt=after)
        self.subscription.__enter__()
        self.queue: queue.Queue[Notification] = queue.Queue(maxsize=RELAY_QUEUE_SIZE)
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._relay, name="projection-relay", daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        try:
            for notification in self.subscription:
                while not self.stopped.is_set():
                    try:
                        self.queue.put(notification, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self.stopped.is_set():
                    return
        except BaseException as error:  # handed to the loop, which restarts the projector
            self.error = error

    async def next_batch(self, limit: int, wait: float) -> Sequence[Notification]:
        return await asyncio.to_thread(self._drain, limit, wait)

    def _drain(self, limit: int, wait: float) -> list[Notification]:
        try:
            batch = [self.queue.get(timeout=wait)]
        except queue.Empty:
            if self.error is not None:
                raise self.error from None
            return []
        # Gather what arrives in the next few milliseconds too: under a rush one batch then
        # re-renders a concert's documents once for many holds, not once per commit.
        deadline = time.monotonic() + GATHER_SECONDS
        while len(batch) < limit:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    batch.append(self.queue.get(timeout=remaining))
                else:
                    batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def close(self) -> None:
        self.stopped.set()
        self.subscription.__exit__(None, None, None)
        self.thread.join(timeout=5)


def open_follower(app: Application[UUID], after: int) -> Follower:
    """Subscribe where the recorder can; poll where it cannot (SQLite)."""
    try:
        return SubscriptionFollower(app, after)
    except NotImplementedError:
        return PollingFollower(app, after)
