"""A task the event loop runs every so often until stopped: the sweeps and the outbox relay.

Each of them is idempotent and picks up where the store says it stopped, so a run that fails
is logged and simply tried again an interval later.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod


class PeriodicTask(ABC):
    """Runs `run_once` every `interval` seconds, from `start()` until `stop()`."""

    interval: float
    # Wait an interval before the first run (nothing can be due at start-up).
    first_run_after_interval = False
    failure_message = "periodic task failed; will retry"
    task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run_once(self) -> None:
        """One run: a sweep, a relay pass."""

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def _loop(self) -> None:
        log = logging.getLogger(type(self).__module__)  # the log lines keep their logger
        if self.first_run_after_interval:
            await asyncio.sleep(self.interval)
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception(self.failure_message)
            await asyncio.sleep(self.interval)
