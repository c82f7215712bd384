"""CPU per stored event of a group-committed save: the library's insert against ours.

eventsourcing's PostgresApplicationRecorder sends a batch as one array of a composite type
(written as text, in Python), in a pipeline with the lock and the NOTIFY;
services/common/recorder.py sends one binary array per column, first in that same pipeline
("column arrays"), now as one call of its insert function ("insert function"). All insert the
same batches (60 events, the size of a save during a rush) into tables of their own in a
fresh database, alternating, and the CPU of this process per event is printed, at the batch
size given and at 5 events (a save outside a rush, where the per-batch statements dominate).

    .venv/bin/python bench/event_insert.py [--batches 200] [--batch-size 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from services.common.recorder import ColumnArraysRecorder

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STATE = (
    b'{"order_id":"%s","quantity":2,"expires_at":"2026-11-26T04:00:00+00:00",'
    b'"timestamp":"2026-11-26T03:45:00.123456+00:00"}'
)


def cpu_per_event(recorder: PostgresApplicationRecorder, batches: int, size: int) -> float:
    """Microseconds of this process's CPU per event inserted."""
    spent, inserted = 0.0, 0
    for _ in range(batches):
        events = [
            StoredEvent(uuid.uuid4(), 1, "domain.order:Order.Placed", STATE % uuid.uuid4().bytes)
            for _ in range(size)
        ]
        started = time.process_time()
        ids = recorder.insert_events(events)
        spent += time.process_time() - started
        inserted += len(events)
        assert ids is not None
        assert len(ids) == size
    return 1e6 * spent / inserted


class PipelinedColumnArrays(ColumnArraysRecorder):
    """The column arrays in the library's pipeline (this recorder before its insert function)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_call = False


KINDS = (
    ("library", PostgresApplicationRecorder),
    ("column arrays", PipelinedColumnArrays),
    ("insert function", ColumnArraysRecorder),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    name = f"bench_insert_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    datastore = PostgresDatastore(
        dbname=name, host="127.0.0.1", port="5432", user="postgres", password="", pool_size=2
    )
    try:
        for round_ in range(1, args.rounds + 1):
            for size in (args.batch_size, 5):
                figures = {}
                kinds = KINDS if round_ % 2 else KINDS[::-1]
                for label, kind in kinds:
                    table = f"r{round_}_{size}_{kind.__name__.lower()}"
                    recorder = kind(datastore, events_table_name=table)
                    recorder.create_table()
                    figures[label] = cpu_per_event(recorder, args.batches, size)
                base = figures["library"]
                print(
                    f"round {round_}, {size} events a batch: "
                    + ", ".join(
                        f"{label} {figures[label]:.1f} µs/event ({figures[label] / base:.2f}x)"
                        for label, _ in KINDS
                    )
                )
    finally:
        datastore.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
