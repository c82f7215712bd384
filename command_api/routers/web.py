"""The web pages: the storefront at `/`, the dashboard at `/admin`, their files under `/static/`.

The pages are static files (plain ES modules, no build step) that call the public HTTP API on
the same origin; nothing here reads a service. They stay out of the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"
PAGE_HEADERS = {
    # Pages change with each release: revalidate them; their assets carry ETags.
    "Cache-Control": "no-cache",
    # Only this origin's scripts, styles and API; uPlot draws on a canvas and sets styles
    # through the DOM, which a policy without 'unsafe-inline' allows.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
async def storefront() -> FileResponse:
    """The storefront: upcoming events, an event's tickets, buying, an order and its receipt."""
    return FileResponse(WEB / "pages" / "store.html", headers=PAGE_HEADERS)


@router.api_route("/admin", methods=["GET", "HEAD"])
async def dashboard() -> FileResponse:
    """The admin dashboard: events, tickets, live insights, users and the audit."""
    return FileResponse(WEB / "pages" / "admin.html", headers=PAGE_HEADERS)


def install(app: FastAPI) -> None:
    """Serve the pages and their static files on the app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
