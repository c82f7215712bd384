"""The tickets service process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from protos.ticketing.v1 import tickets_pb2_grpc
from services.common import loop
from services.common.application import utc_now
from services.common.grpc_server import GrpcService
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.tickets.application import Tickets
from services.tickets.holds import HoldSweeper, OpenHolds
from services.tickets.servicer import TicketsServicer
from services.tickets.writer import TicketTypeWriters

SERVICE_NAME = "ticketing.v1.TicketsService"


@dataclass
class TicketsProcess:
    """The tickets service's server and the application behind it."""

    service: GrpcService
    tickets: Tickets
    writers: TicketTypeWriters
    sweeper: HoldSweeper


def build_tickets_service(
    settings: Settings,
    address: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    sweep_interval: float = 5.0,
) -> TicketsProcess:
    """The tickets gRPC service on its event store, listening on address (port 0: any).

    The sweep of holds nobody came back for starts with the server.
    """
    tickets = Tickets(
        env=settings.event_store_env("tickets"),
        clock=clock,
        conflict_retries=settings.ticketing_conflict_retries,
        snapshot_interval=settings.ticketing_snapshot_interval,
    )
    writers = TicketTypeWriters(tickets, conflict_retries=settings.ticketing_conflict_retries)
    servicer = TicketsServicer(tickets, writers)
    grace = timedelta(seconds=settings.ticketing_hold_grace_seconds)
    sweeper = HoldSweeper(OpenHolds(tickets), writers, clock, grace, sweep_interval)
    service = GrpcService(
        settings.secret("internal"),
        [lambda server: tickets_pb2_grpc.add_TicketsServiceServicer_to_server(servicer, server)],
        [SERVICE_NAME],
        address,
    )

    async def close() -> None:
        await sweeper.stop()
        await writers.close()
        tickets.close()

    service.on_stop.append(close)
    service.on_start.append(sweeper.start)
    return TicketsProcess(service, tickets, writers, sweeper)


def main() -> None:
    """Serve the tickets service on TICKETING_TICKETS_ADDR until SIGTERM."""
    settings = Settings()
    setup_logging(settings, "tickets")
    serve_metrics(settings)

    async def serve() -> None:
        # grpc.aio objects belong to the loop they are made in: build inside it.
        process = build_tickets_service(
            settings, settings.listen_address(settings.ticketing_tickets_addr)
        )
        await process.service.serve_until_signalled()

    loop.run(serve())
