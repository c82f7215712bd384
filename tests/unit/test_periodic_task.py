"""The loop the sweeps and the outbox relay share: runs again after a failure, stops cleanly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.common.periodic import PeriodicTask


class Flaky(PeriodicTask):
    failure_message = "flaky run failed; will retry"

    def __init__(self, fail_first: int, interval: float = 0.01) -> None:
        self.interval = interval
        self.fail_first = fail_first
        self.runs = 0

    async def run_once(self) -> None:
        self.runs += 1
        if self.runs <= self.fail_first:
            raise RuntimeError("the store is away")


async def until(condition, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_failed_run_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    task = Flaky(fail_first=2)
    with caplog.at_level(logging.ERROR):
        task.start()
        await until(lambda: task.runs >= 4)
        await task.stop()
    failures = [r for r in caplog.records if r.getMessage() == "flaky run failed; will retry"]
    assert len(failures) == 2
    assert {r.name for r in failures} == {__name__}  # the subclass's module logs it
    assert task.task is None


async def test_stop_ends_the_loop_and_start_again_resumes_it() -> None:
    task = Flaky(fail_first=0)
    task.start()
    await until(lambda: task.runs >= 1)
    await task.stop()
    stopped_at = task.runs
    await asyncio.sleep(0.05)
    assert task.runs == stopped_at
    task.start()
    await until(lambda: task.runs > stopped_at)
    await task.stop()


async def test_the_first_run_can_wait_an_interval() -> None:
    task = Flaky(fail_first=0, interval=0.3)
    task.first_run_after_interval = True
    task.start()
    await asyncio.sleep(0.1)
    assert task.runs == 0
    await until(lambda: task.runs == 1)
    await task.stop()
