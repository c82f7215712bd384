"""The `ticketing` command line."""

from __future__ import annotations

import argparse
import sys

from projections.cli import add_projections_command
from services.audit.cli import add_audit_command
from services.common.settings import Settings
from services.demo import add_demo_data_command
from services.supervisor import PROCESSES, run
from services.users.cli import add_create_superadmin_command


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one subcommand."""
    parser = argparse.ArgumentParser(prog="ticketing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run",
        help=f"start the system ({', '.join(PROCESSES)}): in one process with no server URLs "
        "set, else one process per service; stop gracefully on SIGTERM",
    )
    add_create_superadmin_command(commands)
    add_projections_command(commands)
    add_audit_command(commands)
    add_demo_data_command(commands)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(Settings())
    if hasattr(args, "handler"):
        return int(args.handler(args))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
