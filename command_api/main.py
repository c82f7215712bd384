"""The gateway process: the one public HTTP app."""

from __future__ import annotations

import uvicorn

from command_api.app import create_app
from services.common.settings import Settings


def main() -> None:
    """Read the environment once and serve the gateway on $PORT."""
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.ticketing_host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
