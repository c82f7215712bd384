"""The gateway app: health and readiness for now; the public API arrives with issue 4."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.common.readiness import dependency_problems
from services.common.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """Build the gateway for the given settings; nothing is connected at import time."""
    app = FastAPI(title="Ticketing", version="0.1.0")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Every dependency answers; otherwise 503 naming the ones that do not."""
        problems = await dependency_problems(settings)
        if problems:
            return JSONResponse({"status": "unavailable", "failing": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
