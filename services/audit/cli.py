"""`ticketing audit …`: history, verification and export from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from redis.asyncio import Redis

from domain.errors import NotFoundError
from projections.connection import connect_redis
from projections.rebuild import Progress
from services.audit.service import Audit
from services.audit.verify import DEFAULT_GRACE, Report
from services.common.settings import Settings


def add_audit_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `audit history ID`, `audit state ID`, `audit verify` and `audit export`."""
    parser = commands.add_parser("audit", help="read and verify the recorded history")
    actions = parser.add_subparsers(dest="action", required=True)

    history = actions.add_parser("history", help="every event of one aggregate, in order")
    history.add_argument("aggregate_id", type=UUID, help="a concert, ticket type or order id")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")
    history.set_defaults(handler=history_command)

    state = actions.add_parser("state", help="an event and its tickets as of a moment")
    state.add_argument("event_id", type=UUID)
    state.add_argument("--as-of", type=aware_time, default=None, help="ISO 8601 with an offset")
    state.set_defaults(handler=state_command)

    verify = actions.add_parser(
        "verify", help="replay every stream and check the invariants; exit 1 on any violation"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--grace-seconds",
        type=float,
        default=DEFAULT_GRACE.total_seconds(),
        help="how long a two-step move may stay half-done before it counts (default 60)",
    )
    verify.set_defaults(handler=verify_command)

    export = actions.add_parser("export", help="the global log as JSON Lines")
    export.add_argument("--output", "-o", type=Path, default=None, help="a file (default stdout)")
    export.set_defaults(handler=export_command)


def aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with an offset, such as +00:00")
    return moment


def with_audit(body: Any) -> Any:
    """Run body(audit) in a fresh event loop with the installation's stores and Redis."""
    settings = Settings()

    async def run() -> Any:
        redis: Redis | None = connect_redis(settings) if settings.redis_url else None
        audit = await asyncio.to_thread(Audit.open, settings, redis)
        try:
            return await body(audit)
        finally:
            await asyncio.to_thread(audit.close)
            if redis is not None:
                await redis.aclose()

    return asyncio.run(run())


def history_command(args: argparse.Namespace) -> int:
    try:
        stream = with_audit(lambda audit: audit.stream(args.aggregate_id))
    except NotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stream, indent=2))
        return 0
    print(f"{stream['aggregate_type']} {stream['aggregate_id']} ({stream['service']} log)")
    for event in stream["events"]:
        actor = f" by {event['actor']}" if event["actor"] else ""
        print(f"{event['version']:>6}  {event['timestamp']}  {event['type']}{actor}")
        details = {k: v for k, v in event["data"].items() if k not in {"by", "created_by"}}
        if details:
            print(f"        {json.dumps(details, sort_keys=True)}")
    return 0


def state_command(args: argparse.Namespace) -> int:
    try:
        state = with_audit(lambda audit: audit.state(args.event_id, args.as_of))
    except NotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2))
    return 0


def verify_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    bars: dict[str, Progress] = {}

    def progress(log: str, done: int, head: int) -> None:
        bar = bars.setdefault(log, Progress(sys.stderr, f"{log} log", head))
        if done >= head:
            bar.finish(done)
        else:
            bar.show(done)

    grace = timedelta(seconds=args.grace_seconds)
    report: Report = with_audit(lambda audit: audit.verify(grace=grace, progress=progress))
    if args.json:
        out.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.write(readable(report))
    return 0 if report.ok else 1


def readable(report: Report) -> str:
    """The report for a person."""
    lines = [
        f"checked {report.checked_events} events in {report.streams} streams "
        f"in {report.seconds:.1f} s",
        f"read models: {report.read_models}",
    ]
    if report.ok:
        lines.append("OK: no violations")
    else:
        lines.append(f"FAILED: {len(report.violations)} violation(s)")
        for violation in report.violations:
            where = " ".join(
                part
                for part in (
                    violation.aggregate_id and f"aggregate {violation.aggregate_id}",
                    violation.version and f"version {violation.version}",
                    violation.key and f"key {violation.key}",
                )
                if part
            )
            lines.append(
                f"  [{violation.check}] {violation.detail}" + (f" ({where})" if where else "")
            )
    return "\n".join(lines) + "\n"


def export_command(args: argparse.Namespace) -> int:
    def write_all(audit: Audit, target: TextIO) -> int:
        count = 0
        for position, event in audit.global_log.export():
            target.write(json.dumps(event.as_log_item(position)) + "\n")
            count += 1
        return count

    async def export(audit: Audit) -> int:
        if args.output is None:
            return await asyncio.to_thread(write_all, audit, sys.stdout)
        with args.output.open("w", encoding="utf-8") as target:
            return await asyncio.to_thread(write_all, audit, target)

    count = with_audit(export)
    print(f"exported {count} events", file=sys.stderr)
    return 0
