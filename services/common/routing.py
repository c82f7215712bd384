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
from collections.abc import Sequence


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
