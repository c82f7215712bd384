"""The gateway process: the one public HTTP app, in one or several worker processes."""

from __future__ import annotations

import os
import shutil
import tempfile

import uvicorn
from fastapi import FastAPI

from command_api.app import create_app
from services.common.http_server import OneWriteHttpToolsProtocol
from services.common.logs import setup_logging
from services.common.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 10
# prometheus_client's multiprocess mode: each worker writes its samples under this folder and
# /metrics, whichever worker answers, adds them up.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def main() -> None:
    """Read the environment once and serve the gateway on $PORT (/metrics included)."""
    settings = Settings()
    setup_logging(settings, "gateway")
    options = {
        "host": settings.ticketing_host,
        "port": settings.port,
        "log_config": None,  # our handlers (services.common.logs), not uvicorn's
        "access_log": False,  # the gateway writes its own access line, with the request id
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "http": OneWriteHttpToolsProtocol,  # head and body in one send
    }
    workers = settings.ticketing_gateway_workers
    if workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    if not settings.redis_url:
        raise SystemExit(
            "TICKETING_GATEWAY_WORKERS > 1 needs REDIS_URL: without it each worker would keep "
            "read models of its own in memory"
        )
    made = METRICS_DIR_VARIABLE not in os.environ
    metrics_dir = os.environ.setdefault(
        METRICS_DIR_VARIABLE, tempfile.mkdtemp(prefix="ticketing-gateway-metrics-")
    )
    try:
        uvicorn.run("command_api.main:worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    finally:
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_app() -> FastAPI:
    """One worker's app (uvicorn starts each worker in a fresh interpreter)."""
    settings = Settings()
    setup_logging(settings, "gateway")
    return create_app(settings)
