"""The base of every service's event-sourced Application."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoder

from domain.errors import NotFoundError
from services.common.retry import retry_on_conflict
from services.common.transcodings import PreparedJSONTranscoder, register_domain_transcodings

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

DEFAULT_CONFLICT_RETRIES = 30
# A snapshotted aggregate is snapshotted again once this many versions passed since its last
# snapshot, or, if more, this fraction of the entries in its state (TicketingApplication.save).
DEFAULT_SNAPSHOT_INTERVAL = 1000
DEFAULT_SNAPSHOT_STATE_FRACTION = 0.1
# Loads of one aggregate take turns (a lock per stripe of ids): see TicketingApplication.load.
LOAD_LOCK_STRIPES = 64
# close() waits this long for reads still running in worker threads (TicketingApplication.close).
CLOSE_GRACE_SECONDS = 10.0


def event_name(notification: Any) -> str:
    """A stored event's class name ("Order.Placed") read from its topic, without decoding it."""
    return str(notification.topic).rpartition(":")[2]


def stores_plain_json(mapper: Any) -> bool:
    """Whether the mapper stores events' state as the transcoder's JSON as it is (neither
    compressed nor encrypted), so that a reader may parse a field or two itself."""
    return mapper.cipher is None and mapper.compressor is None


def plain_state(notification: Any) -> dict[str, Any] | None:
    """A stored event's state, parsed with orjson (a fraction of the mapper's decode: the
    library's transcoder, every field, a domain event object), or None for an event of a
    versioned class, which only the mapper reads as it is meant (it may upcast). Only for a
    mapper that `stores_plain_json`."""
    state: dict[str, Any] = orjson.loads(notification.state)
    return None if "class_version" in state else state


def stored_datetime(value: Any) -> datetime | None:
    """A datetime as the library's transcoder stores it (`{"_type_": "datetime_iso", ...}`),
    from parsed JSON; None if the value is not one."""
    if isinstance(value, dict) and value.get("_type_") == "datetime_iso":
        return datetime.fromisoformat(value["_data_"])
    return None


def utc_now() -> datetime:
    """The current time, with its offset."""
    return datetime.now(UTC)


@contextlib.contextmanager
def schema_lock(env: Mapping[str, str]) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while the application creates its tables.

    Several processes (tickets, projections, notifications) open the same event store when a
    system starts; concurrent CREATE TABLE IF NOT EXISTS can fail in PostgreSQL, so they take
    turns. Other stores need no lock.
    """
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    with psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env.get("POSTGRES_PORT", "5432"),
        user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD", ""),
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('ticketing-event-store-tables'))")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('ticketing-event-store-tables'))")


class TicketingApplication(Application[UUID]):
    """Registers the domain's transcodings and runs every command with reload-and-retry.

    Snapshots: an aggregate of a type in `snapshotted_types` has the state just saved put in
    the snapshot store once `max(snapshot_interval, snapshot_state_fraction * its state's
    entries)` versions passed since its last snapshot by this process (before its first one
    here: when its version crosses a multiple of `snapshot_interval`). A snapshot costs
    O(entries) to encode, and a hot ticket type's holds and sales grow with every order: a
    snapshot every `snapshot_interval` versions made a sale's snapshots cost quadratic time,
    this rule a constant per event (about 1 / snapshot_state_fraction entries' encoding).
    Worst case, a load replays after the latest snapshot `max(snapshot_interval,
    snapshot_state_fraction * entries)` events plus one save's (a writer's batch), plus
    `snapshot_interval` after a restart (until the next mark): like decoding the snapshot,
    O(entries); at the default 0.1 a few times that decoding (bench/ticket_saves.py).

    The library's own `snapshotting_intervals` would instead replay the stream up to that
    version to rebuild the state it already has in memory, which on a hot ticket type costs
    more than the save.
    """

    is_snapshotting_enabled = True
    # Followers of the event log (the expiry sweep, projections) read it in pages this big.
    log_section_size = 1000
    snapshotted_types: tuple[type[Aggregate], ...] = ()

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        conflict_retries: int = DEFAULT_CONFLICT_RETRIES,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        snapshot_state_fraction: float = DEFAULT_SNAPSHOT_STATE_FRACTION,
    ) -> None:
        with schema_lock(env or {}):
            super().__init__(env)
        self.clock = clock
        self.conflict_retries = conflict_retries
        self.snapshot_interval = snapshot_interval
        self.snapshot_state_fraction = snapshot_state_fraction
        # The version of each aggregate's latest snapshot this process stored (or found stored).
        self.snapshot_versions: dict[UUID, int] = {}
        self._load_locks = [threading.Lock() for _ in range(LOAD_LOCK_STRIPES)]

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Record the aggregates' new events atomically, then snapshot any that are due."""
        due = [
            aggregate
            for aggregate in objs
            if isinstance(aggregate, self.snapshotted_types) and self.snapshot_due(aggregate)
        ]
        recordings = self._record_collected(objs, kwargs)
        for aggregate in due:
            self.snapshot_in_memory(aggregate)
        return recordings

    def _record_collected(
        self, objs: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[Recording[UUID]]:
        """The library's Application.save (9.5), with a cheaper check of what each object is.

        Its ProcessingEvent.collect_events asks isinstance(obj, DomainEventProtocol) and
        then CollectEventsProtocol of every object: runtime-checkable protocols, about 15 µs
        per aggregate. An Aggregate is never the first and always the second (checked in
        tests/unit/test_application_save.py), so it takes the same path by a nominal check;
        anything else goes through the library's own checks.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated in the library, still called there
        return recordings

    def snapshot_due(self, aggregate: Aggregate) -> bool:
        """Whether the aggregate, once its pending events are saved, should be snapshotted."""
        last = self.snapshot_versions.get(aggregate.id)
        if last is None:
            return self.crosses_snapshot_mark(aggregate)
        gap = max(self.snapshot_interval, self.snapshot_state_fraction * state_entries(aggregate))
        return aggregate.version - last >= gap

    def crosses_snapshot_mark(self, aggregate: Aggregate) -> bool:
        """Whether the aggregate's pending events pass a multiple of the snapshot interval."""
        before = aggregate.version - len(aggregate.pending_events)
        return aggregate.version // self.snapshot_interval > before // self.snapshot_interval

    def snapshot_in_memory(self, aggregate: Aggregate) -> None:
        """Store the state just saved as a snapshot; another replica may have stored it first."""
        assert self.snapshots is not None
        with contextlib.suppress(IntegrityError):
            self.snapshots.put([Snapshot.take(aggregate)])
        self.snapshot_versions[aggregate.id] = aggregate.version

    def close(self) -> None:
        """Close the store once no worker thread is still using one of its connections.

        A coroutine awaiting asyncio.to_thread(app.recorder...) can be cancelled, but its
        thread runs on; closing the SQLite pool then closes a connection under a statement
        another thread is stepping, and CPython 3.11's sqlite3 crashes the process
        (seen in CI). PostgreSQL's pool closes in-use connections only when they come back,
        so it has nothing to wait for here.
        """
        self.closing.set()
        close_when_idle(self, CLOSE_GRACE_SECONDS)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, with its C encoder made once (PreparedJSONTranscoder)."""
        transcoder = PreparedJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def run_command(self, command: Callable[[], T]) -> T:
        """Load, decide and save; on a version conflict, reload and decide again."""
        return retry_on_conflict(command, self.conflict_retries)

    def load(self, aggregate_id: UUID, kind: type[A]) -> A:
        """The current state of one aggregate of the expected kind, or NotFoundError.

        The library fast-forwards a cached aggregate in place and then deep-copies it outside
        its fast-forward lock, so two threads loading one busy aggregate could copy it while
        the other mutates it: a torn copy, or "dictionary changed size during iteration".
        Loads of the same aggregate therefore take turns.
        """
        try:
            with self._load_locks[hash(aggregate_id) % LOAD_LOCK_STRIPES]:
                aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(f"{kind.__name__} {aggregate_id} not found") from None
        if not isinstance(aggregate, kind) or getattr(aggregate, "deleted", False):
            raise NotFoundError(f"{kind.__name__} {aggregate_id} not found")
        return aggregate


def state_entries(aggregate: Aggregate) -> int:
    """How many entries the aggregate's collections hold: what its snapshot's size grows with."""
    return sum(
        len(value)
        for name, value in vars(aggregate).items()
        if isinstance(value, dict | list | set) and not name.startswith("_")
    )


def close_when_idle(app: Application[UUID], grace: float) -> None:
    """Close app's stores once none of its connections is in use, waiting up to grace seconds.

    Only the library's own pool (SQLite's) counts its connections in use. While waiting, it
    holds the pool's turnstile (the semaphore every get_connection passes), so no new read
    starts; reads in flight finish on open connections. Other pools close at once.
    """
    pool = getattr(getattr(app.recorder, "datastore", None), "pool", None)
    turnstile = getattr(pool, "_get_semaphore", None)
    if pool is None or turnstile is None or not hasattr(pool, "num_in_use") or pool.closed:
        app.factory.close()
        return
    deadline = time.monotonic() + grace
    admitted = turnstile.acquire(timeout=grace)
    try:
        while pool.num_in_use and time.monotonic() < deadline:
            time.sleep(0.005)
        app.factory.close()
    finally:
        if admitted:
            turnstile.release()
