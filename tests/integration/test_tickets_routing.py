"""Two tickets replicas behind the clients' rendezvous routing, on one PostgreSQL store."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from protos.ticketing.v1 import tickets_pb2, tickets_pb2_grpc
from services.common.protobuf import timestamp
from services.common.routing import RoutedStub, owner
from services.tickets.server import build_tickets_service
from tests.integration.grpc_helpers import as_caller, reason_of, service_settings
from tests.integration.test_tickets_service import a_concert_on_sale

STOCK = 15
BUYERS = 30


@pytest.fixture
def settings(tmp_path, fresh_database_url):
    return service_settings(tmp_path, fresh_database_url)


@pytest.fixture
async def replicas(settings):
    processes = [build_tickets_service(settings, "127.0.0.1:0") for _ in range(2)]
    for process in processes:
        await process.service.start()
    yield processes
    for process in processes:
        await process.service.stop(grace=1)


def reserve(ticket_type_id: str, order_id: str) -> tickets_pb2.ReserveRequest:
    return tickets_pb2.ReserveRequest(
        ticket_type_id=ticket_type_id,
        order_id=order_id,
        quantity=1,
        expires_at=timestamp(datetime.now(UTC) + timedelta(minutes=15)),
    )


async def test_each_ticket_type_is_written_by_one_replica_and_moves_when_it_dies(
    settings, replicas
):
    admin = as_caller(settings, "admin-1", "admin", "gateway")
    payments = as_caller(settings, "payments", "service", "payments")
    addresses = [f"127.0.0.1:{process.service.port}" for process in replicas]
    by_address = dict(zip(addresses, replicas, strict=True))
    routed = RoutedStub(tickets_pb2_grpc.TicketsServiceStub, addresses)
    try:
        # Six random ids all land on one replica once in 32 runs: add ticket types until
        # both replicas own some (a routing that always picks one stops at the cap and fails).
        ticket_types: list[str] = []
        owners: dict[str, str] = {}
        while len(ticket_types) < 6 or (len(set(owners.values())) < 2 and len(ticket_types) < 40):
            ticket_id = (await a_concert_on_sale(routed, admin, stock=STOCK))[1].id
            ticket_types.append(ticket_id)
            owners[ticket_id] = owner(addresses, ticket_id)
        assert len(set(owners.values())) == 2, "both replicas own some of the ticket types"

        orders = {
            ticket_id: [str(uuid.uuid4()) for _ in range(BUYERS)] for ticket_id in ticket_types
        }
        calls = [
            routed.Reserve(reserve(ticket_id, order_id), metadata=payments)
            for ticket_id, order_ids in orders.items()
            for order_id in order_ids
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        held = [o for o in outcomes if isinstance(o, tickets_pb2.TicketType)]
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(held) == STOCK * len(ticket_types)
        assert {reason_of(error) for error in refused} == {"sold_out"}
        # Every ticket type's commands reached its owner only.
        for address, process in by_address.items():
            written = {str(ticket_id) for ticket_id in process.writers.aggregates}
            assert written == {t for t, a in owners.items() if a == address}

        # One replica dies: its ticket types are served by the other, from the store.
        dead, alive = addresses
        await by_address[dead].service.stop(grace=0)
        moved = next(t for t, a in owners.items() if a == dead)
        released = await routed.Release(
            tickets_pb2.HoldRequest(ticket_type_id=moved, order_id=orders[moved][0]),
            metadata=payments,
        )
        assert released.remaining == 1
        assert uuid.UUID(moved) in by_address[alive].writers.aggregates
        again = await routed.Reserve(reserve(moved, str(uuid.uuid4())), metadata=payments)
        assert again.remaining == 0
        # A command that is not safe to repeat elsewhere is not sent to another replica.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await routed.UpdateTicketType(
                tickets_pb2.UpdateTicketTypeRequest(ticket_type_id=moved, total_stock=STOCK + 5),
                metadata=admin,
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await routed.close()
