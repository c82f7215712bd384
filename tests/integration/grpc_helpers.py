"""Helpers for tests that talk to the services over real gRPC channels."""

from __future__ import annotations

import secrets
from pathlib import Path

import grpc

from services.common.errors import REASON_KEY
from services.common.identity import Identity, identity_metadata
from services.common.settings import Settings


def service_settings(tmp_path: Path, database_url: str | None = None, **overrides) -> Settings:
    """Settings for services under test: their own data folder and a fresh internal secret."""
    return Settings(
        ticketing_data_dir=tmp_path / "data",
        database_url=database_url,
        ticketing_internal_secret=secrets.token_urlsafe(40),
        ticketing_order_token_secret=secrets.token_urlsafe(40),
        ticketing_sandbox_webhook_secret=secrets.token_urlsafe(40),
        **overrides,
    )


def as_caller(settings: Settings, subject: str, role: str, service: str = "tests"):
    """Call metadata vouching for a caller."""
    return identity_metadata(Identity(subject, role, service), settings.secret("internal"))


def reason_of(error: grpc.aio.AioRpcError) -> str | None:
    """The machine-readable reason a service attached to an error."""
    return dict(error.trailing_metadata() or ()).get(REASON_KEY)
