"""`ticketing create-superadmin`: the first account, straight into the database (no gRPC)."""

from __future__ import annotations

import argparse
import sys

from domain.errors import AlreadyExistsError
from services.common.database import open_database
from services.common.errors import BadRequestError
from services.common.settings import Settings
from services.users.application import Users
from services.users.errors import WeakPasswordError
from services.users.passwords import Passwords
from services.users.store import UserStore


def add_create_superadmin_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `create-superadmin --email E [--password P]`."""
    parser = commands.add_parser(
        "create-superadmin",
        help="create a superadmin in the users database and print its id",
    )
    parser.add_argument("--email", required=True)
    parser.add_argument(
        "--password", help="at least 12 characters; defaults to TICKETING_SUPERADMIN_PASSWORD"
    )
    parser.set_defaults(handler=create_superadmin)


def create_superadmin(args: argparse.Namespace) -> int:
    """Create the superadmin, print its id; 1 with a message on a taken email or bad input."""
    settings = Settings()
    password = args.password or settings.ticketing_superadmin_password
    if not password:
        return fail("give --password or set TICKETING_SUPERADMIN_PASSWORD")
    database = open_database(settings, "users")
    try:
        store = UserStore(database)
        store.migrate()
        user = Users(store, Passwords()).create_superadmin(args.email, password)
    except AlreadyExistsError:
        return fail(f"a user with the email {args.email} already exists")
    except (WeakPasswordError, BadRequestError) as error:
        return fail(str(error))
    finally:
        database.close()
    print(user.id)
    return 0


def fail(message: str) -> int:
    """Say why on stderr; the exit status of a refused command."""
    print(f"ticketing create-superadmin: {message}", file=sys.stderr)
    return 1
