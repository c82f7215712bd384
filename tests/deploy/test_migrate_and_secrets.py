"""The migration Job's command, and the example secrets that must not work anywhere."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

from services.common.settings import Settings
from services.users.tokens import load_signing_key
from tests.deploy.artifacts import ROOT, tool

PASSWORD = "a long enough superadmin password"


def example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("TICKETING_")}
    return subprocess.run(
        [tool("ticketing-migrate")], env=clean | env,
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def tables(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def superadmins(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT email FROM users_accounts WHERE role = 'superadmin'").fetchall()
    return [email for (email,) in rows]


def test_migrate_creates_every_table_and_the_superadmin_once(fresh_database_url, tmp_path):
    env = {
        "DATABASE_URL": fresh_database_url,
        "TICKETING_ENV": "production",
        "TICKETING_DATA_DIR": str(tmp_path),
        "TICKETING_SUPERADMIN_EMAIL": "root@example.com",
        "TICKETING_SUPERADMIN_PASSWORD": PASSWORD,
    }
    assert tables(fresh_database_url) == set()

    first = migrate(env)

    assert first.returncode == 0, first.stderr
    created = tables(fresh_database_url)
    for table in ("tickets_events", "orders_events", "users_accounts", "users_invites",
                  "sandbox_payments", "notifications", "schema_migrations"):  # fmt: skip
        assert any(name.startswith(table) for name in created), (table, created)
    assert "created the superadmin root@example.com" in first.stdout
    assert superadmins(fresh_database_url) == ["root@example.com"]
    assert list(tmp_path.iterdir()) == [], "nothing written beside PostgreSQL"

    again = migrate(env)

    assert again.returncode == 0, again.stderr
    assert "the superadmin root@example.com already exists" in again.stdout
    assert tables(fresh_database_url) == created
    assert superadmins(fresh_database_url) == ["root@example.com"]


def test_migrate_refuses_the_example_superadmin_password(fresh_database_url, tmp_path):
    values = example()
    result = migrate({
        "DATABASE_URL": fresh_database_url,
        "TICKETING_ENV": "production",
        "TICKETING_DATA_DIR": str(tmp_path),
        "TICKETING_SUPERADMIN_EMAIL": values["TICKETING_SUPERADMIN_EMAIL"],
        "TICKETING_SUPERADMIN_PASSWORD": values["TICKETING_SUPERADMIN_PASSWORD"],
    })  # fmt: skip
    assert result.returncode == 1
    assert "superadmin refused" in result.stderr
    assert superadmins(fresh_database_url) == []


@pytest.mark.parametrize("name", ["internal", "order_token", "sandbox_webhook"])
def test_the_services_refuse_every_example_secret(name, tmp_path):
    variable = f"TICKETING_{name.upper()}_SECRET"
    placeholder = example()[variable]
    settings = Settings(
        ticketing_env="production",
        ticketing_data_dir=tmp_path,
        **{variable.lower(): placeholder},
    )
    with pytest.raises(ValueError, match=variable):
        settings.secret(name)
    # And a real one is accepted, so the refusal is about the value.
    real = Settings(ticketing_env="production", **{variable.lower(): os.urandom(24).hex()})
    assert len(real.secret(name)) == 48


def test_the_users_service_refuses_the_example_jwt_key(tmp_path):
    placeholder = example()["TICKETING_JWT_PRIVATE_KEY"]
    settings = Settings(
        ticketing_env="production", ticketing_data_dir=tmp_path,
        ticketing_jwt_private_key=placeholder,
    )  # fmt: skip
    with pytest.raises(ValueError, match="TICKETING_JWT_PRIVATE_KEY"):
        load_signing_key(settings)
