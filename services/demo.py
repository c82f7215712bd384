"""`ticketing demo-data`: a superadmin, an admin and three concerts on sale, idempotently.

Everything goes through the services' own applications (the users service's invite and
registration, the tickets service's concerts and ticket types), straight into their stores,
so it works whether or not the system is running; a running system's read models pick the
new events up like any others. Run it again and it creates nothing new and prints the same
logins: generated passwords are kept, owner-only, in the data folder's secrets/.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone

from domain.concert import ConcertStatus
from domain.money import Money
from services.common.database import open_database
from services.common.identity import Identity
from services.common.settings import Settings, write_once
from services.tickets.application import Tickets
from services.users.application import Users
from services.users.passwords import Passwords
from services.users.store import User, UserStore

DEMO_SUPERADMIN = "superadmin@example.com"
DEMO_ADMIN = "admin@example.com"
NAIROBI = timezone(timedelta(hours=3))
LOG_PAGE = 500
# Printed in place of a password this command does not know.
PASSWORD_FROM_ENVIRONMENT = "(the value of TICKETING_SUPERADMIN_PASSWORD)"  # noqa: S105


@dataclass(frozen=True)
class DemoConcert:
    """A concert to seed: what it is, when (days from now), and its (category, price, stock)."""

    title: str
    description: str
    location: str
    in_days: int
    ticket_types: tuple[tuple[str, str, int], ...]


CONCERTS = (
    DemoConcert(
        "Sauti Sol: Live in Nairobi",
        "The band's homecoming show, with guests.",
        "Uhuru Gardens, Nairobi",
        30,
        (("Regular", "2500.00", 500), ("VIP", "7500.00", 50)),
    ),
    DemoConcert(
        "Nyashinski at the KICC",
        "An evening of new songs and old favourites.",
        "KICC, Nairobi",
        45,
        (("Regular", "2000.00", 300), ("VIP", "6000.00", 40)),
    ),
    DemoConcert(
        "Blankets & Wine",
        "The open-air afternoon of live music.",
        "Laureat Gardens, Nairobi",
        60,
        (("Early bird", "1500.00", 200), ("Regular", "3000.00", 800)),
    ),
)


@dataclass(frozen=True)
class Login:
    """An account to print, and its password if this installation knows it."""

    role: str
    email: str
    password: str


def add_demo_data_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `demo-data`."""
    parser = commands.add_parser(
        "demo-data",
        help="create a superadmin, an admin and three active concerts (again: nothing new)",
    )
    parser.add_argument(
        "--outside-development",
        action="store_true",
        help="allow it when TICKETING_ENV is not development",
    )
    parser.set_defaults(handler=demo_data)


def demo_data(args: argparse.Namespace) -> int:
    """Seed, then print the logins and the concerts."""
    settings = Settings()
    if settings.ticketing_env != "development" and not args.outside_development:
        print("ticketing demo-data: refusing outside development", file=sys.stderr)
        return 1
    logins, admin = seed_users(settings)
    titles = seed_concerts(settings, admin.id)
    base = settings.ticketing_public_url.rstrip("/")
    print("Demo data is in place (run again any time: nothing is created twice).")
    for login in logins:
        print(f"  {login.role:<11} {login.email:<26} password: {login.password}")
    for title in titles:
        print(f"  concert     {title}")
    print(f"Sign in at {base}/admin; the storefront is {base}/")
    return 0


def seed_users(settings: Settings) -> tuple[list[Login], User]:
    """The superadmin (from the environment, or the demo one) and the demo admin."""
    database = open_database(settings, "users")
    try:
        store = UserStore(database)
        store.migrate()
        users = Users(store, Passwords())
        if settings.ticketing_superadmin_email and settings.ticketing_superadmin_password:
            users.ensure_superadmin_from_env(settings)
            root_email = settings.ticketing_superadmin_email.strip()
            root_password = PASSWORD_FROM_ENVIRONMENT
        else:
            root_email = DEMO_SUPERADMIN
            root_password = kept_password(settings, "demo-superadmin")
            if user_by_email(store, root_email) is None:
                users.create_superadmin(root_email, root_password)
        root = user_by_email(store, root_email)
        assert root is not None  # created just above, or found
        admin_password = kept_password(settings, "demo-admin")
        if user_by_email(store, DEMO_ADMIN) is None:
            by = Identity(root.id, "superadmin", "cli")
            invite = users.create_invite(by, DEMO_ADMIN, "admin")
            users.register(DEMO_ADMIN, admin_password, invite.code)
        admin = user_by_email(store, DEMO_ADMIN)
        assert admin is not None
        logins = [
            Login(root.role, root.email, root_password),
            Login(admin.role, admin.email, admin_password),
        ]
        return logins, admin
    finally:
        database.close()


def user_by_email(store: UserStore, email: str) -> User | None:
    with store.transaction() as tables:
        return tables.user_by_email(email)


def kept_password(settings: Settings, name: str) -> str:
    """A generated password, kept in the data folder so that a second run prints it again."""
    path = settings.ticketing_data_dir / "secrets" / f"{name}-password"
    return write_once(path, secrets.token_urlsafe(12).encode(), bool).decode().strip()


def seed_concerts(settings: Settings, admin_id: str, now: datetime | None = None) -> list[str]:
    """Create (once) and activate the demo concerts of admin_id; their titles."""
    now = now or datetime.now(UTC)
    tickets = Tickets(env=settings.event_store_env("tickets"))
    try:
        existing = concert_titles_created_by(tickets, admin_id)
        for concert in CONCERTS:
            if concert.title in existing:
                continue
            day = (now + timedelta(days=concert.in_days)).date()
            starts = datetime.combine(day, time(19, 30), NAIROBI)
            concert_id = tickets.create_concert(
                concert.title, concert.description, concert.location, starts, by=admin_id
            )
            for category, price, stock in concert.ticket_types:
                tickets.add_ticket_type(
                    concert_id,
                    category,
                    Money.parse(price, "KES"),
                    stock,
                    sales_start=now - timedelta(hours=1),
                    sales_end=starts,
                    by=admin_id,
                )
            tickets.change_concert_status(concert_id, ConcertStatus.ACTIVE, by=admin_id)
        return [concert.title for concert in CONCERTS]
    finally:
        tickets.close()


def concert_titles_created_by(tickets: Tickets, admin_id: str) -> set[str]:
    """Titles of every concert admin_id ever created, read from the tickets event log."""
    titles: set[str] = set()
    start = 1
    while True:
        notifications = tickets.notification_log.select(start, LOG_PAGE)
        for notification in notifications:
            if not notification.topic.endswith("Concert.Created"):
                continue
            created = tickets.mapper.to_domain_event(notification)
            if getattr(created, "created_by", None) == admin_id:
                titles.add(created.title)  # type: ignore[attr-defined]
        if len(notifications) < LOG_PAGE:
            return titles
        start = notifications[-1].id + 1
