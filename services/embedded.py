"""The embedded mode in one OS process: every service as tasks of one asyncio loop.

With no DATABASE_URL, REDIS_URL, AMQP_URL or SMTP_URL, the read models live in fakeredis and
the receipts travel through an in-process queue, both in memory, so every part must share one
process (DESIGN.md, "Embedded default"). Each gRPC server still listens on its own port and
the parts still talk over gRPC and HTTP: the code paths are those of the separate processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from command_api.app import create_app
from services.common.database import open_database
from services.common.http_server import OneWriteHttpToolsProtocol
from services.common.logs import SERVICE
from services.common.settings import Settings
from services.notifications.main import build_notification_service
from services.payments.providers.sandbox_app import create_sandbox_app
from services.payments.providers.sandbox_main import webhook_url_for
from services.payments.providers.sandbox_store import SandboxStore
from services.payments.server import build_payments_service
from services.tickets.server import build_tickets_service
from services.users.server import build_users_service

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 10
# Blocking store calls of every service share the loop's default executor (asyncio.to_thread).
EXECUTOR_THREADS = 32


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the process's signals are ours to handle, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Part:
    """One service of the system: how to stop it, in the order the system stops."""

    name: str
    stop: Callable[[], Awaitable[None]]


def in_context_of(name: str, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run work as a task whose logs (and the tasks it starts) name the service."""
    context = contextvars.copy_context()
    context.run(SERVICE.set, name)
    return asyncio.create_task(work, context=context)


async def serve_http(name: str, app: FastAPI, host: str, port: int) -> Part:
    """Serve app with uvicorn in this loop; return once it listens (its lifespan done)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        http=OneWriteHttpToolsProtocol,
    )
    server = EmbeddedServer(config)
    task = in_context_of(name, server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError(f"{name} stopped while starting")
        await asyncio.sleep(0.02)

    async def stop() -> None:
        server.should_exit = True  # stop accepting, finish in-flight requests, run shutdown
        await task

    return Part(name, stop)


@contextlib.asynccontextmanager
async def running_system(settings: Settings) -> AsyncIterator[list[Part]]:
    """Start every part; on exit stop them front to back, so work in flight can finish."""
    parts: list[Part] = []
    try:
        for name, start in starters(settings):
            parts.append(await in_context_of(name, start()))
            log.info("%s started", name)
        yield parts
    finally:
        # The gateway first (nothing new comes in), then what it calls, then what they call.
        for part in sorted(parts, key=lambda part: STOP_ORDER.index(part.name)):
            try:
                await in_context_of(part.name, part.stop())
            except Exception:
                log.exception("%s did not stop cleanly", part.name)


STOP_ORDER = ["gateway", "payments", "sandbox", "tickets", "users", "notifications"]


def starters(settings: Settings) -> list[tuple[str, Callable[[], Awaitable[Part]]]]:
    """Each part's start, in the order the system starts (callees before callers)."""

    async def users() -> Part:
        service = await build_users_service(settings, settings.ticketing_users_addr)
        await service.start()
        return Part("users", service.stop)

    async def tickets() -> Part:
        service = build_tickets_service(settings, settings.ticketing_tickets_addr).service
        await service.start()
        return Part("tickets", service.stop)

    async def payments() -> Part:
        service = build_payments_service(settings, settings.ticketing_payments_addr).service
        await service.start()
        return Part("payments", service.stop)

    async def notifications() -> Part:
        service = await build_notification_service(settings, settings.ticketing_notifications_addr)
        await service.start()
        return Part("notifications", service.stop)

    async def sandbox() -> Part:
        database = open_database(settings, "sandbox")
        app = create_sandbox_app(SandboxStore(database), settings, webhook_url_for(settings))
        served = await serve_http(
            "sandbox", app, settings.ticketing_host, settings.ticketing_sandbox_port
        )

        async def stop() -> None:
            await served.stop()
            await asyncio.to_thread(database.close)

        return Part("sandbox", stop)

    async def gateway() -> Part:
        app = create_app(settings)
        return await serve_http("gateway", app, settings.ticketing_host, settings.port)

    return [
        ("users", users),
        ("tickets", tickets),
        ("payments", payments),
        ("notifications", notifications),
        ("sandbox", sandbox),
        ("gateway", gateway),
    ]


async def serve(settings: Settings, started: Callable[[], None] = lambda: None) -> None:
    """Run the whole system until SIGTERM or SIGINT, then stop it gracefully."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="store"))
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with running_system(settings):
        started()
        await stopping.wait()
        log.info("stopping: finishing the requests and batches in flight")
