"""The gateway: the one public HTTP origin, in front of the gRPC services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from command_api.auth import TokenKeys
from command_api.clients import Services
from command_api.hot_orders import HotOrders
from command_api.observability import RequestContextMiddleware, metrics_page
from command_api.routers import admin_events, audit, auth, notifications, orders, payments, web
from projections.connection import connect_redis
from projections.runner import run_projections
from protos.ticketing.v1.notifications_pb2_grpc import NotificationsServiceStub
from query_api.admin import admin_read_router
from query_api.hot import HotReads
from query_api.public import public_router
from services.common import collector
from services.common.http_problems import install_problem_handlers
from services.common.metrics import FASTAPI_TELEMETRY_OFF
from services.common.readiness import dependency_problems
from services.common.settings import Settings
from services.payments.providers.sandbox import SandboxProvider


def create_app(settings: Settings) -> FastAPI:
    """Build the gateway for the given settings; it connects when it starts, not before."""
    redis = connect_redis(settings)  # lazy: no connection until the first command
    # In memory (no REDIS_URL) the read models start empty: ready once rebuilt from the events.
    read_models_built = asyncio.Event()
    if settings.redis_url:
        read_models_built.set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Without REDIS_URL the read models live in this process's memory, so the projections
        # must run here, beside the routes that read them.
        stop_projections = asyncio.Event()
        projections = (
            None
            if settings.redis_url
            else asyncio.create_task(
                run_projections(settings, redis, stop_projections, caught_up=read_models_built)
            )
        )
        services = Services.connect(settings)
        app.state.services = services
        app.state.settings, app.state.redis, app.state.audit = settings, redis, None
        app.state.audit_opening = asyncio.Lock()
        app.state.token_keys = TokenKeys.from_users_service(services.channels[0])
        app.state.notifications = NotificationsServiceStub(services.channels[2])
        app.state.provider = SandboxProvider(
            settings.ticketing_sandbox_url, settings.secret("sandbox_webhook")
        )
        app.state.sandbox_http = httpx.AsyncClient(
            base_url=settings.ticketing_sandbox_url, timeout=10.0
        )
        # What start-up built lives as long as the process: keep it out of the collector's
        # way, so a full collection under load walks only what requests allocate.
        collector.settle()
        try:
            yield
        finally:
            stop_projections.set()
            if projections is not None:
                await asyncio.gather(projections, return_exceptions=True)
            await app.state.sandbox_http.aclose()
            await app.state.provider.aclose()
            await services.close()
            if app.state.audit is not None:
                await asyncio.to_thread(app.state.audit.close)
            await redis.aclose()

    app = FastAPI(
        title="Ticketing", version="0.1.0", lifespan=lifespan, telemetry=FASTAPI_TELEMETRY_OFF
    )
    install_problem_handlers(app)
    # Inside the request context (ids, access log, metrics), in front of the routes.
    app.add_middleware(HotReads, redis=redis, namespace=settings.ticketing_redis_namespace)
    app.add_middleware(HotOrders)
    app.add_middleware(RequestContextMiddleware)
    app.add_api_route("/metrics", metrics_page, methods=["GET"], include_in_schema=False)
    routers = (auth, admin_events, orders, payments, notifications, audit)
    for module in routers:
        app.include_router(module.router)
    namespace = settings.ticketing_redis_namespace
    app.include_router(public_router(redis, namespace=namespace))
    app.include_router(admin_read_router(redis, namespace=namespace))
    web.install(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Every dependency answers; otherwise 503 naming the ones that do not."""
        problems = await dependency_problems(settings, redis)
        if not read_models_built.is_set():
            problems["read_models"] = "rebuilding from the event store"
        if problems:
            return JSONResponse({"status": "unavailable", "failing": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
