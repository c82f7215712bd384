"""A server's garbage collector after start-up: thresholds for serving, start-up's objects frozen,
and cyclic garbage still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.common import collector

DEFAULTS = (700, 10, 10)


@pytest.fixture
def default_collector() -> Iterator[None]:
    """CPython's own settings for the test; the process's own afterwards."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(*DEFAULTS)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


class Node:
    """A container the collector tracks."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_sets_the_serving_thresholds_and_freezes_what_start_up_built(
    default_collector: None,
) -> None:
    built_at_start = [Node() for _ in range(100)]
    assert gc.get_freeze_count() == 0
    collector.settle()
    assert gc.get_threshold() == collector.THRESHOLDS
    assert gc.get_threshold() != DEFAULTS
    assert gc.get_freeze_count() >= len(built_at_start)
    assert all(node not in gc.get_objects() for node in built_at_start[:3])


def test_cycles_made_after_settling_are_still_collected(default_collector: None) -> None:
    collector.settle()
    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: reference counting cannot free it
    gone = weakref.ref(first)
    del first, second
    assert gone() is not None
    gc.collect()
    assert gone() is None
