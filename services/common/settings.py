"""One settings object per process, read from the environment when the process starts."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration from the environment; unset URLs mean the embedded adapters."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str | None = None
    redis_url: str | None = None
    amqp_url: str | None = None
    smtp_url: str | None = None
    port: int = Field(default=8000, ge=1, le=65535)
    ticketing_host: str = "127.0.0.1"
    ticketing_data_dir: Path = Path(".data")
    ticketing_hold_seconds: int = Field(default=900, ge=1)
    ticketing_superadmin_email: str | None = None
    ticketing_superadmin_password: str | None = None
    # Events read from the store per load of a hot ticket type at most (see DESIGN.md).
    ticketing_snapshot_interval: int = Field(default=1000, ge=2)
    ticketing_aggregate_cache_size: int = Field(default=10_000, ge=1)
    ticketing_conflict_retries: int = Field(default=30, ge=1)

    def event_store_env(self, service: str) -> dict[str, str]:
        """The `eventsourcing` environment for one service's Application."""
        env = {"AGGREGATE_CACHE_MAXSIZE": str(self.ticketing_aggregate_cache_size)}
        if self.database_url:
            env.update(postgres_env(self.database_url))
        else:
            self.ticketing_data_dir.mkdir(parents=True, exist_ok=True)
            env.update(
                {
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(self.ticketing_data_dir / f"{service}.sqlite3"),
                    "SQLITE_LOCK_TIMEOUT": "10",
                }
            )
        return env


def postgres_env(database_url: str) -> dict[str, str]:
    """Translate a postgresql:// URL into the library's POSTGRES_* variables."""
    parts = urlsplit(database_url)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ValueError("DATABASE_URL must name a database")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
        # A stuck writer must not hold the table lock for ever.
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
    }
