"""The payment sandbox as its own process (`ticketing-sandbox`)."""

from __future__ import annotations

import uvicorn

from services.common.database import open_database
from services.common.http_server import OneWriteHttpToolsProtocol
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.payments.providers.sandbox_app import create_sandbox_app
from services.payments.providers.sandbox_store import SandboxStore


def webhook_url_for(settings: Settings) -> str:
    """TICKETING_SANDBOX_WEBHOOK_URL, or the gateway's webhook on the public origin."""
    if settings.ticketing_sandbox_webhook_url:
        return settings.ticketing_sandbox_webhook_url
    return settings.ticketing_public_url.rstrip("/") + "/payments/webhook"


def main() -> None:
    """Read the environment once and serve the sandbox on $TICKETING_SANDBOX_PORT."""
    settings = Settings()
    setup_logging(settings, "sandbox")
    serve_metrics(settings)
    database = open_database(settings, "sandbox")
    try:
        app = create_sandbox_app(SandboxStore(database), settings, webhook_url_for(settings))
        uvicorn.run(
            app,
            host=settings.ticketing_host,
            port=settings.ticketing_sandbox_port,
            log_config=None,
            access_log=False,  # its logger is off (services.common.logs): skip the line's work
            timeout_graceful_shutdown=10,
            http=OneWriteHttpToolsProtocol,  # head and body in one send
        )
    finally:
        database.close()


if __name__ == "__main__":
    main()
