"""Readiness checks of the dependencies a process needs."""

from __future__ import annotations

import sqlite3

import psycopg

from services.common.settings import Settings

SERVICES_WITH_EVENT_STORES = ("tickets", "payments")


def event_store_problems(settings: Settings) -> dict[str, str]:
    """Name each event store that does not answer, with why."""
    problems: dict[str, str] = {}
    if settings.database_url:
        try:
            with psycopg.connect(settings.database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as error:
            for service in SERVICES_WITH_EVENT_STORES:
                problems[f"{service}-event-store"] = str(error).strip() or type(error).__name__
        return problems
    for service in SERVICES_WITH_EVENT_STORES:
        path = settings.ticketing_data_dir / f"{service}.sqlite3"
        try:
            settings.ticketing_data_dir.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=3) as conn:
                conn.execute("SELECT 1")
        except (OSError, sqlite3.Error) as error:
            problems[f"{service}-event-store"] = str(error)
    return problems
