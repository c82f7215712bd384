"""The gateway process: the one public HTTP app."""

from __future__ import annotations

import uvicorn

from command_api.app import create_app
from services.common.logs import setup_logging
from services.common.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 10


def main() -> None:
    """Read the environment once and serve the gateway on $PORT (/metrics included)."""
    settings = Settings()
    setup_logging(settings, "gateway")
    uvicorn.run(
        create_app(settings),
        host=settings.ticketing_host,
        port=settings.port,
        log_config=None,  # our handlers (services.common.logs), not uvicorn's
        access_log=False,  # the gateway writes its own access line, with the request id
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
