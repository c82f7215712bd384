"""The read API on its own process, to scale reads apart from the gateway."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from command_api.auth import TokenKeys
from command_api.observability import RequestContextMiddleware
from projections.connection import connect_redis
from protos.ticketing.v1 import users_pb2, users_pb2_grpc
from query_api.admin import admin_read_router
from query_api.hot import HotReads
from query_api.public import public_router
from services.common.http_problems import install_problem_handlers
from services.common.http_server import OneWriteHttpToolsProtocol
from services.common.logs import setup_logging
from services.common.metrics import FASTAPI_TELEMETRY_OFF, serve_metrics
from services.common.settings import Settings


def create_query_app(settings: Settings, redis: Redis, token_keys: Any) -> FastAPI:
    """The read-only app: browsing, admin reads and insights; token_keys verifies bearers."""
    app = FastAPI(title="Ticketing read API", version="0.1.0", telemetry=FASTAPI_TELEMETRY_OFF)
    app.state.token_keys = token_keys
    install_problem_handlers(app)
    namespace = settings.ticketing_redis_namespace
    app.add_middleware(HotReads, redis=redis, namespace=namespace)
    app.include_router(public_router(redis, namespace=namespace))
    app.include_router(admin_read_router(redis, namespace=namespace))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    return app


def users_token_keys(settings: Settings) -> tuple[TokenKeys, list[grpc.aio.Channel]]:
    """Token keys fetched from the users service over a channel opened on first use."""
    channels: list[grpc.aio.Channel] = []

    async def fetch() -> str:
        if not channels:  # grpc.aio channels belong to the running loop: open one there
            channels.append(grpc.aio.insecure_channel(settings.ticketing_users_addr))
        stub = users_pb2_grpc.UsersServiceStub(channels[0])
        keys = await stub.GetPublicKeys(users_pb2.GetPublicKeysRequest(), timeout=5)
        return keys.jwks_json

    return TokenKeys(fetch), channels


def main() -> None:
    """Serve the read API on $PORT, on the Redis of REDIS_URL."""
    settings = Settings()
    setup_logging(settings, "query-api")
    serve_metrics(settings)
    redis = connect_redis(settings)
    token_keys, channels = users_token_keys(settings)
    app = create_query_app(settings, redis, token_keys)
    app.add_middleware(RequestContextMiddleware, service="query-api")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for channel in channels:
            await channel.close()
        await redis.aclose()

    app.router.lifespan_context = lifespan
    uvicorn.run(
        app,
        host=settings.ticketing_host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        http=OneWriteHttpToolsProtocol,  # head and body in one send
    )
