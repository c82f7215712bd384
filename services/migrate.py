"""`ticketing-migrate`: every table of an installation, then the first superadmin; idempotent.

Each process also creates what it needs when it starts (under advisory locks, so replicas may
start together); a deployment runs this once before them (the Kubernetes Job, compose's
`migrate` service) so that a bad DATABASE_URL or a weak superadmin password fails one job,
loudly, instead of every pod.
"""

from __future__ import annotations

import argparse
import logging
import sys

from domain.errors import TicketingError
from services.common.database import open_database
from services.common.errors import ServiceError
from services.common.settings import Settings
from services.notifications.store import NotificationStore
from services.payments.application import Orders
from services.payments.providers.sandbox_store import SandboxStore
from services.tickets.application import Tickets
from services.users.application import Users
from services.users.passwords import Passwords
from services.users.store import UserStore

log = logging.getLogger(__name__)


def migrate(settings: Settings) -> list[str]:
    """Create or update every store's tables; return what was migrated, in order."""
    done = []
    for service, application in (("tickets", Tickets), ("payments", Orders)):
        # Constructing the application creates its event store's tables.
        application(env=settings.event_store_env(service)).close()
        done.append(f"{service} event store")
    for name, store_of in (
        ("users", UserStore),
        ("sandbox", SandboxStore),
        ("notifications", NotificationStore),
    ):
        database = open_database(settings, name)
        try:
            store_of(database).migrate()
        finally:
            database.close()
        done.append(f"{name} tables")
    return done


def ensure_superadmin(settings: Settings) -> str:
    """Create the superadmin of TICKETING_SUPERADMIN_EMAIL/PASSWORD unless it exists; say what."""
    if not (settings.ticketing_superadmin_email and settings.ticketing_superadmin_password):
        return "no superadmin in the environment (TICKETING_SUPERADMIN_EMAIL and _PASSWORD)"
    database = open_database(settings, "users")
    try:
        user = Users(UserStore(database), Passwords()).ensure_superadmin_from_env(settings)
    finally:
        database.close()
    if user is None:
        return f"the superadmin {settings.ticketing_superadmin_email} already exists"
    return f"created the superadmin {user.email} ({user.id})"


def main(argv: list[str] | None = None) -> int:
    """Console entry point; exit 1 with the reason on refused input."""
    argparse.ArgumentParser(prog="ticketing-migrate", description=__doc__).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    where = "PostgreSQL" if settings.database_url else f"SQLite in {settings.ticketing_data_dir}"
    for done in migrate(settings):
        print(f"ticketing-migrate: {done} up to date ({where})", flush=True)
    try:
        print(f"ticketing-migrate: {ensure_superadmin(settings)}", flush=True)
    except (ServiceError, TicketingError) as error:  # a weak password, a bad email
        print(f"ticketing-migrate: superadmin refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
