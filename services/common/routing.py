"""Routing each ticket type to one tickets replica: rendezvous (highest-random-weight) hashing.

Correctness never depends on routing: every replica may serve every ticket type, and the event
store's optimistic concurrency refuses a stale writer, which reloads and replays its batch.
Routing is for throughput: when all commands for one ticket type reach the same replica, its
group-commit writer batches them and its cached aggregate stays current, so conflicts between
replicas are rare instead of constant.

Every client (the gateway, each payments replica) computes the same order of replicas for a
key from the addresses alone, with no coordination. When a replica is removed, only the keys
it owned move (each to its next choice); when one is unreachable, a caller may try the next
choice for that key, which is where the key would move anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc


def parse_addresses(value: str) -> list[str]:
    """`host:port[,host:port…]` → the distinct addresses, in the order given."""
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    if not addresses:
        raise ValueError("at least one host:port address is needed")
    return list(dict.fromkeys(addresses))


def _weight(address: str, key: str) -> int:
    digest = hashlib.blake2b(f"{address}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def preference(addresses: Sequence[str], key: str) -> list[str]:
    """The replicas for key, best first: the same answer on every client."""
    return sorted(addresses, key=lambda address: _weight(address, key), reverse=True)


def owner(addresses: Sequence[str], key: str) -> str:
    """The replica that serves key while every replica is up."""
    return max(addresses, key=lambda address: _weight(address, key))


# Calls that may be sent again to another replica after UNAVAILABLE: reads, and the inventory
# commands, which are idempotent per order id. The others are not retried elsewhere.
RETRYABLE_ELSEWHERE = frozenset(
    {
        "GetConcert",
        "GetTicketType",
        "Reserve",
        "ReserveBatch",
        "Confirm",
        "Release",
        "Expire",
        "Refund",
    }
)
KEY_FIELDS = ("ticket_type_id", "concert_id")


def routing_key(request: object) -> str:
    """What a call is routed by: its ticket type, else its concert ('' for neither)."""
    for name in KEY_FIELDS:
        value = getattr(request, name, "")
        if value:
            return str(value)
    return ""


class RoutedStub:
    """A gRPC stub over several replicas: each call goes to the replica its key prefers.

    `stub.Reserve(request, **kwargs)` works as on a plain stub. When the preferred replica is
    unreachable (UNAVAILABLE), a call in RETRYABLE_ELSEWHERE is tried on the key's next
    choice; any other error is the caller's to handle.
    """

    def __init__(
        self,
        stub_class: Callable[[grpc.aio.Channel], Any],
        addresses: Sequence[str],
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.addresses = list(addresses)
        self.channels = {
            address: grpc.aio.insecure_channel(address, options=list(options))
            for address in self.addresses
        }
        self.stubs = {address: stub_class(channel) for address, channel in self.channels.items()}

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        if method.startswith("_") or method not in dir(next(iter(self.stubs.values()))):
            raise AttributeError(method)

        async def call(request: object, **kwargs: Any) -> Any:
            order = preference(self.addresses, routing_key(request))
            attempts = order if method in RETRYABLE_ELSEWHERE else order[:1]
            for index, address in enumerate(attempts):
                try:
                    return await getattr(self.stubs[address], method)(request, **kwargs)
                except grpc.aio.AioRpcError as error:
                    last = index == len(attempts) - 1
                    if error.code() is not grpc.StatusCode.UNAVAILABLE or last:
                        raise
            raise AssertionError("unreachable: at least one replica is always tried")

        return call

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
