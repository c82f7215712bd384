"""Readiness: does every service the gateway depends on answer?"""

from __future__ import annotations

import asyncio

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.settings import Settings

CHECK_TIMEOUT_SECONDS = 2.0


async def grpc_health_problem(address: str) -> str | None:
    """Why the gRPC service at address is not serving, or None if it is."""
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=CHECK_TIMEOUT_SECONDS
            )
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name}: {error.details()}"
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return None


async def http_health_problem(url: str) -> str | None:
    """Why the HTTP service at url does not answer 200, or None if it does."""
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


async def redis_problem(redis: Redis) -> str | None:
    """Why Redis does not answer, or None if it does."""
    try:
        await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT_SECONDS)
    except (RedisError, OSError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    return None


async def dependency_problems(settings: Settings, redis: Redis) -> dict[str, str]:
    """Name each dependency that does not answer, with why."""
    checks = {
        "redis": redis_problem(redis),
        "users": grpc_health_problem(settings.ticketing_users_addr),
        "tickets": grpc_health_problem(settings.ticketing_tickets_addr),
        "payments": grpc_health_problem(settings.ticketing_payments_addr),
        "notifications": grpc_health_problem(settings.ticketing_notifications_addr),
        "sandbox": http_health_problem(f"{settings.ticketing_sandbox_url}/healthz"),
    }
    answers = await asyncio.gather(*checks.values())
    return {name: problem for name, problem in zip(checks, answers, strict=True) if problem}
