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
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

SELECT_LIMIT = 500  # rows per query
BUFFER_LIMIT = 10_000  # rows read ahead of the loop at most
# How long a batch keeps gathering after its first notification. Each batch costs a select,
# two Redis round trips and the documents' rendering, whatever its size: in a rush, 25 ms
# instead of 10 ms cut the projections' CPU per 1,000 holds by a third (1.02 -> 0.67 s,
# bench/projections_cpu.py at 400 holds/s) for ~11 ms more lag at p50.
GATHER_SECONDS = 0.025


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
    """Reads the log when PostgreSQL announces new notifications (LISTEN/NOTIFY).

    A reader thread LISTENs on the log's channel (the recorder NOTIFYs it with every insert).
    Woken, it gathers for GATHER_SECONDS, selects everything after its position in one query
    on that same connection, and hands the rows to the loop, waking the loop only if it waits.
    The library's `recorder.subscribe` selects once per commit and passes each notification
    on through two more threads, and a query from the loop costs a thread hop and a pool
    checkout: in a rush these were a fifth of the projections' CPU.
    """

    def __init__(self, app: Application[UUID], after: int) -> None:
        recorder = app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            raise TypeError("only PostgreSQL announces new notifications: poll this log")
        self.recorder = recorder
        self.after = after
        # What the library's select_notifications reads, on the reader's own connection.
        self.statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {0}.{1} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        self.selects = 0  # queries made so far
        self.buffer: deque[Notification] = deque()
        self.lock = threading.Lock()  # guards the hand-over of waiter
        self.waiter: asyncio.Future[None] | None = None  # set while the loop waits
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, name="projection-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        channel = Identifier(self.recorder.channel_name)
        try:
            with self.recorder.datastore.get_connection() as connection:
                connection.execute(SQL("LISTEN {0}").format(channel))
                try:
                    self._follow(connection)
                finally:
                    with contextlib.suppress(Exception):
                        connection.execute(SQL("UNLISTEN {0}").format(channel))
        except BaseException as error:  # handed to the loop, which restarts the projector
            self.error = error
            self._wake()

    def _follow(self, connection: Connection[Any]) -> None:
        more = True  # first what was recorded before the LISTEN
        while not self.stopped.is_set():
            if not more:
                # At most 0.1 s per wait, so that close() is noticed.
                if not any(True for _ in connection.notifies(timeout=0.1, stop_after=1)):
                    continue
                # Gather what is committed in the next few milliseconds too: under a rush one
                # batch then re-renders a concert's documents once for many holds.
                time.sleep(GATHER_SECONDS)
            for _ in connection.notifies(timeout=0):
                pass  # announcements of commits the query below reads anyway
            while len(self.buffer) >= BUFFER_LIMIT:  # the loop is behind: wait for it
                if self.stopped.wait(0.01):
                    return
            notifications = self._select(connection)
            more = len(notifications) >= SELECT_LIMIT
            if notifications:
                self.after = notifications[-1].id
                self.buffer.extend(notifications)
                self._wake()

    def _select(self, connection: Connection[Any]) -> list[Notification]:
        self.selects += 1
        with connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(self.statement, (self.after, SELECT_LIMIT), prepare=True)
            return [
                Notification(
                    id=row[0],
                    originator_id=row[1],
                    originator_version=row[2],
                    topic=row[3],
                    state=bytes(row[4]),
                )
                for row in cursor.fetchall()
            ]

    def _wake(self) -> None:
        """Wake the loop if it waits (from the reader thread)."""
        with self.lock:
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def next_batch(self, limit: int, wait: float) -> Sequence[Notification]:
        if not self.buffer:
            await self._arrival(wait)
        if not self.buffer:
            if self.error is not None:
                raise self.error
            return []
        return [self.buffer.popleft() for _ in range(min(limit, len(self.buffer)))]

    async def _arrival(self, wait: float) -> None:
        """Return once notifications (or an error) came, or after wait seconds."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.buffer or self.error is not None:
                return
            waiter = self.waiter = loop.create_future()
        timer = loop.call_later(wait, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            with self.lock:
                if self.waiter is waiter:
                    self.waiter = None

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def open_follower(app: Application[UUID], after: int) -> Follower:
    """Subscribe where the recorder can; poll where it cannot (SQLite)."""
    if isinstance(app.recorder, PostgresApplicationRecorder):
        return SubscriptionFollower(app, after)
    return PollingFollower(app, after)
