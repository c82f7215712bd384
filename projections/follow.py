"""Reading an application's notification log from a position on: subscribe, or poll.

PostgreSQL announces every insert on the log's channel (LISTEN/NOTIFY): there the log is read
when something was committed; SQLite does not, so there it is polled with
`notification_log.select`. Both hand out batches of notifications in id order, starting after
the given position (the recorder commits notification ids in order: DESIGN.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

LISTEN_TIMEOUT = 30.0  # how long opening a follower waits for its LISTEN
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
    """Selects the next notifications when PostgreSQL announces new ones (LISTEN/NOTIFY).

    A listener thread LISTENs on the log's channel (the recorder NOTIFYs it with every insert)
    and wakes the loop when it waits; the loop gathers for GATHER_SECONDS, then selects
    everything after its position in one query. The library's `recorder.subscribe` selects
    once per commit and hands each notification on through two more threads: in a rush that
    was a fifth of the projections' CPU.
    """

    def __init__(self, app: Application[UUID], after: int) -> None:
        if not isinstance(app.recorder, PostgresApplicationRecorder):
            raise NotImplementedError("only PostgreSQL announces new notifications")
        self.recorder = app.recorder
        self.after = after
        self.more = True  # select before waiting: what was recorded before the LISTEN
        self.lock = threading.Lock()  # guards notified and the hand-over of waiter
        self.notified = False
        self.waiter: asyncio.Future[None] | None = None  # set while the loop waits
        self.stopped = threading.Event()
        self.listening = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._listen, name="projection-listen", daemon=True)
        self.thread.start()
        # LISTEN before the first select, so that no commit after that select goes unnoticed.
        if not self.listening.wait(LISTEN_TIMEOUT):
            self.close()
            raise TimeoutError(f"no LISTEN on {self.recorder.channel_name} in {LISTEN_TIMEOUT} s")
        if self.error is not None:
            raise self.error

    def _listen(self) -> None:
        channel = Identifier(self.recorder.channel_name)
        try:
            with self.recorder.datastore.get_connection() as connection:
                connection.execute(SQL("LISTEN {0}").format(channel))
                self.listening.set()
                try:
                    while not self.stopped.is_set():
                        # At most 0.1 s per wait, so that close() is noticed.
                        for _ in connection.notifies(timeout=0.1, stop_after=1):
                            self._wake()
                finally:
                    with contextlib.suppress(Exception):
                        connection.execute(SQL("UNLISTEN {0}").format(channel))
        except BaseException as error:  # handed to the loop, which restarts the projector
            self.error = error
            self.listening.set()
            self._wake()

    def _wake(self) -> None:
        """Note that something was committed; wake the loop if it waits (listener thread)."""
        with self.lock:
            self.notified = True
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def next_batch(self, limit: int, wait: float) -> Sequence[Notification]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if self.error is not None:
                raise self.error
            if not self.more:
                if not await self._notified(deadline - loop.time()):
                    return []
                # Gather what is committed in the next few milliseconds too: under a rush one
                # batch then re-renders a concert's documents once for many holds.
                await asyncio.sleep(GATHER_SECONDS)
            with self.lock:
                self.notified = False  # a commit announced from here on is selected next time
            notifications = await asyncio.to_thread(
                self.recorder.select_notifications,
                start=self.after,
                limit=limit,
                inclusive_of_start=False,
            )
            self.more = len(notifications) >= limit
            if notifications:
                self.after = notifications[-1].id
                return notifications
            # Announced, but already selected by the previous query: wait again.

    async def _notified(self, wait: float) -> bool:
        """Whether a commit was announced, waiting up to wait seconds for one."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.notified or wait <= 0:
                return self.notified
            waiter = self.waiter = loop.create_future()
        timer = loop.call_later(wait, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            with self.lock:
                if self.waiter is waiter:
                    self.waiter = None
        return self.notified

    def close(self) -> None:
        self.stopped.set()
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
