"""Group commit: commands that arrive while a batch is being saved join the next batch.

One drain task per queue applies the queued commands together (in a worker thread, since the
event store's client blocks) and answers each caller with its own outcome: a result, or the
error that refused that command alone, or the error that failed the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 500


class BatchQueue(Generic[C, R]):
    """A queue of commands applied in batches by `apply`, which returns one outcome each."""

    def __init__(
        self, apply: Callable[[list[C]], list[R | Exception]], max_batch: int = DEFAULT_MAX_BATCH
    ) -> None:
        self.apply = apply
        self.max_batch = max_batch
        self.pending: list[tuple[C, asyncio.Future[R]]] = []
        self.drain: asyncio.Task[None] | None = None

    async def submit(self, command: C) -> R:
        """Queue a command and wait for its outcome."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.pending.append((command, answer))
        if self.drain is None:
            self.drain = asyncio.create_task(self._drain())
        return await answer

    async def close(self) -> None:
        """Let every queued command finish."""
        while self.drain is not None:
            await asyncio.gather(self.drain, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch = self.pending[: self.max_batch]
                del self.pending[: self.max_batch]
                commands = [command for command, _ in batch]
                try:
                    outcomes = await asyncio.to_thread(self.apply, commands)
                except Exception as error:
                    outcomes = [error] * len(batch)
                for (_, answer), outcome in zip(batch, outcomes, strict=True):
                    if answer.done():
                        continue  # the caller gave up (deadline, cancellation)
                    if isinstance(outcome, Exception):
                        answer.set_exception(outcome)
                    else:
                        answer.set_result(outcome)
        finally:
            self.drain = None
