"""Reload-and-retry: the other half of optimistic concurrency."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

T = TypeVar("T")


class ConflictRetriesExhaustedError(Exception):
    """Every attempt met a newer version written by someone else."""


def retry_on_conflict(
    command: Callable[[], T],
    attempts: int,
    *,
    base_delay: float = 0.001,
    max_delay: float = 0.05,
) -> T:
    """Run a load-decide-save command, re-running it while another writer won the race.

    The command must load fresh state each time: the store's unique (id, version) rule
    is what refused the stale write, and a reload is what makes the retry correct.
    """
    for attempt in range(attempts):
        try:
            return command()
        except IntegrityError:
            if attempt + 1 == attempts:
                break
            # Full jitter keeps racing writers from colliding again in lockstep.
            time.sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))  # noqa: S311
    raise ConflictRetriesExhaustedError(
        f"gave up after {attempts} attempts: the record kept changing under us"
    )
