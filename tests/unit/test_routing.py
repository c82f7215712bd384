"""Rendezvous routing of ticket types to tickets replicas."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.routing import owner, parse_addresses, preference

REPLICAS = [f"tickets-{n}.tickets:50052" for n in range(4)]
KEYS = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(4000)]


def test_addresses_are_read_from_a_comma_separated_list():
    assert parse_addresses(" a:1, b:2 ,a:1,") == ["a:1", "b:2"]
    with pytest.raises(ValueError, match="at least one"):
        parse_addresses(" , ")


def test_every_replica_owns_about_its_share_of_ticket_types():
    counts = Counter(owner(REPLICAS, key) for key in KEYS)
    assert set(counts) == set(REPLICAS)
    assert all(800 <= count <= 1200 for count in counts.values()), counts


def test_removing_a_replica_moves_only_the_ticket_types_it_owned():
    survivors = REPLICAS[:-1]
    moved = [key for key in KEYS if owner(REPLICAS, key) != owner(survivors, key)]
    assert moved
    assert all(owner(REPLICAS, key) == REPLICAS[-1] for key in moved)
    # Each moves to its second choice: where a caller falls back when the owner is down.
    assert all(owner(survivors, key) == preference(REPLICAS, key)[1] for key in moved)


@given(
    addresses=st.lists(st.from_regex(r"[a-z]{1,8}:[0-9]{2,5}", fullmatch=True), min_size=1,
                       max_size=8, unique=True),
    key=st.uuids().map(str),
)  # fmt: skip
def test_the_order_is_a_permutation_that_ignores_the_order_addresses_are_listed_in(addresses, key):
    ranked = preference(addresses, key)
    assert sorted(ranked) == sorted(addresses)
    assert ranked == preference(list(reversed(addresses)), key)
    assert ranked[0] == owner(addresses, key)
