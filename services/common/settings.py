"""One settings object per process, read from the environment when the process starts."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.routing import parse_addresses


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
    # The tickets service ends on its own a hold still open this long past its expiry: one
    # whose order was never recorded (payments holds first, then saves; DESIGN.md).
    ticketing_hold_grace_seconds: int = Field(default=30, ge=1)
    ticketing_superadmin_email: str | None = None
    ticketing_superadmin_password: str | None = None
    # Events read from the store per load of a hot ticket type at most (see DESIGN.md).
    ticketing_snapshot_interval: int = Field(default=1000, ge=2)
    ticketing_aggregate_cache_size: int = Field(default=10_000, ge=1)
    ticketing_conflict_retries: int = Field(default=30, ge=1)
    # "development" generates missing secrets into the data folder; anything else refuses to start.
    ticketing_env: Literal["development", "production"] = "development"
    ticketing_internal_secret: str | None = None
    ticketing_order_token_secret: str | None = None
    ticketing_sandbox_webhook_secret: str | None = None
    # The users service's Ed25519 signing key (PEM); generated into the data folder in development.
    ticketing_jwt_private_key: str | None = None
    ticketing_users_addr: str = "127.0.0.1:50051"
    ticketing_tickets_addr: str = "127.0.0.1:50052"
    # Every tickets replica (host:port, comma-separated), when there are several: clients send
    # each ticket type's commands to one of them (services/common/routing.py). Unset: the one
    # TICKETING_TICKETS_ADDR.
    ticketing_tickets_replicas: str | None = None
    ticketing_payments_addr: str = "127.0.0.1:50053"
    ticketing_notifications_addr: str = "127.0.0.1:50054"
    # Where each gRPC server binds, if not the host of its own address above: containers set
    # 0.0.0.0 and keep the addresses as the names the other processes reach them by.
    ticketing_grpc_listen_host: str | None = None
    # Where customers are sent to pay: the gateway's public origin.
    ticketing_public_url: str = "http://127.0.0.1:8000"
    # The payment sandbox as its own process, and where it sends its webhooks (by default the
    # gateway's /payments/webhook on the public origin).
    ticketing_sandbox_port: int = Field(default=8001, ge=1, le=65535)
    ticketing_sandbox_webhook_url: str | None = None
    # Where the payments service reaches the sandbox's API.
    ticketing_sandbox_url: str = "http://127.0.0.1:8001"
    # Notifications: names on the broker start with this prefix (tests use a unique one).
    ticketing_amqp_prefix: str = ""
    ticketing_mail_from: str = "Ticketing <receipts@ticketing.invalid>"
    ticketing_notify_prefetch: int = Field(default=16, ge=1)
    # SMTP attempts per message, and the first pause between them (doubling each time).
    ticketing_notify_attempts: int = Field(default=5, ge=1)
    ticketing_notify_backoff_seconds: float = Field(default=1.0, ge=0)
    # A claimed notification whose holder has been silent this long may be taken over.
    ticketing_notify_lease_seconds: float = Field(default=120.0, gt=0)
    ticketing_relay_interval_seconds: float = Field(default=0.5, gt=0)
    # The root of every Redis key and channel of the read models (tests use their own roots).
    ticketing_redis_namespace: str = Field(default="ticketing", pattern=r"^[A-Za-z0-9_.-]+$")
    # Logs: JSON lines or text (unset: text on a terminal, JSON otherwise), and the least level.
    ticketing_log_format: Literal["json", "text"] | None = None
    ticketing_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Gateway worker processes sharing its port (needs REDIS_URL: the read models must be shared).
    # On one machine they spread the public HTTP work over its cores; in Kubernetes, scale pods.
    ticketing_gateway_workers: int = Field(default=1, ge=1, le=64)
    # Where a process without an HTTP port of its own serves Prometheus /metrics (unset: none).
    ticketing_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # For bench/stage_trace.py only: a folder where every process writes its stage marks
    # (services/common/stages.py). Unset, nothing is marked.
    ticketing_stage_trace: Path | None = None

    @field_validator("ticketing_log_level", "ticketing_log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        """Accept `info` as well as `INFO`, `JSON` as well as `json`."""
        if not isinstance(value, str):
            return value
        return value.upper() if value.lower() in LOG_LEVELS else value.lower() or None

    def secret(self, name: str) -> bytes:
        """A shared secret (internal, order_token, sandbox_webhook) from TICKETING_<NAME>_SECRET.

        In development a missing one is generated once into the data folder, so that every
        process of one installation agrees on it; elsewhere a missing or short one is an error.
        """
        value = getattr(self, f"ticketing_{name}_secret")
        variable = f"TICKETING_{name.upper()}_SECRET"
        if value:
            if len(value) < MIN_SECRET_LENGTH or value.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{variable} must be a random value of {MIN_SECRET_LENGTH}+ chars")
            return value.encode()
        if self.ticketing_env != "development":
            raise ValueError(f"{variable} must be set outside development")
        return development_secret(self.ticketing_data_dir / "secrets" / name)

    def listen_address(self, address: str) -> str:
        """Where a gRPC server reached at address binds: TICKETING_GRPC_LISTEN_HOST, if set."""
        if not self.ticketing_grpc_listen_host:
            return address
        _host, _, port = address.rpartition(":")
        host = self.ticketing_grpc_listen_host
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def tickets_replicas(self) -> list[str]:
        """The tickets replicas that clients route between."""
        return parse_addresses(self.ticketing_tickets_replicas or self.ticketing_tickets_addr)

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


MIN_SECRET_LENGTH = 32
LOG_LEVELS = {"debug", "info", "warning", "error", "critical"}
PLACEHOLDER_SECRETS = {"changeme" * 4, "secret" * 6, "x" * 32}


def development_secret(path: Path) -> bytes:
    """Read the secret at path, creating it first if it is missing."""
    value = write_once(path, secrets.token_urlsafe(48).encode(), lambda data: bool(data.strip()))
    return value.strip()


def write_once(path: Path, content: bytes, is_complete: Callable[[bytes], bool]) -> bytes:
    """The file's content, after writing `content` to it if it did not exist (owner-only).

    Several processes of one installation may start at once: exactly one creates the file,
    and the others wait until what it wrote is complete.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
    for _ in range(100):
        data = path.read_bytes()
        if is_complete(data):
            return data
        time.sleep(0.01)
    raise RuntimeError(f"the file {path} stays incomplete")


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
        # The library's recorder, inserting a batch as one binary array per column.
        "APPLICATION_RECORDER_TOPIC": "services.common.recorder:ColumnArraysRecorder",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # No "SELECT 1" before each use of a pooled connection: in a rush it was a round
        # trip per save. A connection that died meanwhile (PostgreSQL restarted) fails its
        # statement, the pool drops it, and the library's recorders retry on a fresh one.
        "POSTGRES_PRE_PING": "n",
        # A stuck writer must not hold the table lock for ever.
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
    }
