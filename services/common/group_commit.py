"""Group commit: commands that arrive while a batch is being saved join the next batch.

One drain task per queue applies the queued commands together (a blocking `apply` in a worker
thread, since the event store's client blocks; a coroutine function on the loop, as for a
batched gRPC call) and answers each caller with its own outcome: a result, or the error that
refused that command alone, or the error that failed the whole batch.

With `lanes` above one, up to that many batches are applied at once (for a batched call to
another service, where waiting for the previous call would only add latency): a command that
arrives while every lane is busy joins the next batch, one that finds a lane free starts it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from services.common import stages
from services.common.logs import REQUEST_ID
from services.common.metrics import BATCH_SIZE

C = TypeVar("C")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 500


class BatchQueue(Generic[C, R]):
    """A queue of commands applied in batches by `apply`, which returns one outcome each."""

    def __init__(
        self,
        apply: Callable[[list[C]], list[R | Exception]]
        | Callable[[list[C]], Awaitable[list[R | Exception]]],
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "batch",
        lanes: int = 1,
    ) -> None:
        self.apply = apply
        # A coroutine function, or an object whose __call__ is one, runs on the loop.
        self.is_async = inspect.iscoroutinefunction(apply) or inspect.iscoroutinefunction(
            type(apply).__call__
        )
        self.max_batch = max_batch
        self.lanes = lanes
        self.name = name
        self.batch_sizes = BATCH_SIZE.labels(name)
        self.batches = 0
        self.pending: list[tuple[C, asyncio.Future[R]]] = []
        self.drains: set[asyncio.Task[None]] = set()
        self.idle_lanes = 0  # drains between batches, about to take what is pending

    async def submit(self, command: C) -> R:
        """Queue a command and wait for its outcome."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.pending.append((command, answer))
        self._start_drain()
        return await answer

    async def submit_many(self, commands: Sequence[C]) -> list[R | Exception]:
        """Queue several commands at once and wait for every outcome: a result, or the error
        that refused that command (or failed its batch), returned in its place."""
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[R]] = [loop.create_future() for _ in commands]
        self.pending.extend(zip(commands, answers, strict=True))
        self._start_drain()
        outcomes: list[R | Exception] = []
        for answer in answers:
            try:
                outcomes.append(await answer)
            except Exception as error:
                outcomes.append(error)
        return outcomes

    def _start_drain(self) -> None:
        if self.idle_lanes == 0 and len(self.drains) < self.lanes:
            # A batch serves many requests: its logs carry none of their ids.
            context = contextvars.copy_context()
            context.run(REQUEST_ID.set, None)
            self.idle_lanes += 1
            self.drains.add(asyncio.create_task(self._drain(), context=context))

    async def close(self) -> None:
        """Let every queued command finish: each caller gets its outcome, saved or refused."""
        while self.drains:
            await asyncio.gather(*self.drains, return_exceptions=True)

    async def _drain(self) -> None:
        idle = True
        try:
            while self.pending:
                self.idle_lanes -= 1
                idle = False
                batch = self.pending[: self.max_batch]
                del self.pending[: self.max_batch]
                commands = [command for command, _ in batch]
                self.batch_sizes.observe(len(commands))
                self.batches += 1
                key = f"{self.name}#{self.batches}#{len(commands)}" if stages.enabled() else ""
                stages.mark("b_take", key)
                try:
                    outcomes = await self._apply(commands)
                except Exception as error:
                    outcomes = [error] * len(batch)
                stages.mark("b_done", key)
                for (_, answer), outcome in zip(batch, outcomes, strict=True):
                    if answer.done():
                        continue  # the caller gave up (deadline, cancellation)
                    if isinstance(outcome, Exception):
                        answer.set_exception(outcome)
                    else:
                        answer.set_result(outcome)
                self.idle_lanes += 1
                idle = True
        finally:
            # Synchronously, so that a command queued from now on starts a drain of its own.
            if idle:
                self.idle_lanes -= 1
            self.drains.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _apply(self, commands: list[C]) -> list[R | Exception]:
        if self.is_async:
            outcomes: Any = await self.apply(commands)
        else:
            outcomes = await asyncio.to_thread(self.apply, commands)
        outcomes = list(outcomes)
        if len(outcomes) != len(commands):
            # Answering the wrong ones would be worse than failing them all.
            raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(commands)}")
        return outcomes
