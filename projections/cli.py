"""`ticketing projections …`: commands on the Redis read models."""

from __future__ import annotations

import argparse
import asyncio
import sys

from projections.connection import connect_redis
from projections.rebuild import rebuild
from services.common.settings import Settings


def add_projections_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `projections rebuild [--grace-seconds S]`."""
    parser = commands.add_parser("projections", help="manage the Redis read models")
    actions = parser.add_subparsers(dest="action", required=True)
    rebuild_parser = actions.add_parser(
        "rebuild",
        help="replay both event logs into a fresh key prefix, then switch readers to it",
    )
    rebuild_parser.add_argument(
        "--grace-seconds",
        type=float,
        default=2.0,
        help="how long the old prefix stays readable after the switch (default 2)",
    )
    rebuild_parser.set_defaults(handler=rebuild_command)


def rebuild_command(args: argparse.Namespace) -> int:
    """Rebuild into a new generation; 1 with a message when there is no Redis to rebuild."""
    settings = Settings()
    if not settings.redis_url:
        print(
            "REDIS_URL is not set: the embedded read models live in the running process's "
            "memory and are rebuilt from the event logs at every start",
            file=sys.stderr,
        )
        return 1

    async def run() -> None:
        redis = connect_redis(settings)
        try:
            await rebuild(settings, redis, grace_seconds=args.grace_seconds)
        finally:
            await redis.aclose()

    asyncio.run(run())
    return 0
