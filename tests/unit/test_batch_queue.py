"""BatchQueue: commands queued while a batch is applied join the next one, in up to `lanes`."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.group_commit import BatchQueue


class Recorder:
    """An apply that answers each command with its double (refusing negatives), and records."""

    def __init__(self, seconds: float = 0.01) -> None:
        self.seconds = seconds
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, commands: list[int]) -> list[int | Exception]:
        self.batches.append(list(commands))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.running -= 1
        return [ValueError(f"{c} refused") if c < 0 else c * 2 for c in commands]


async def test_one_lane_applies_one_batch_at_a_time_and_later_commands_share_the_next():
    apply = Recorder()
    queue: BatchQueue[int, int] = BatchQueue(apply, name="test")
    first = asyncio.create_task(queue.submit(1))
    await asyncio.sleep(0.002)  # the first batch is being applied
    rest = [asyncio.create_task(queue.submit(n)) for n in range(2, 7)]
    assert await asyncio.gather(first, *rest) == [2, 4, 6, 8, 10, 12]
    assert apply.batches == [[1], [2, 3, 4, 5, 6]]
    assert apply.most_at_once == 1


async def test_lanes_apply_several_batches_at_once_but_no_more():
    apply = Recorder(seconds=0.02)
    queue: BatchQueue[int, int] = BatchQueue(apply, name="test", lanes=3)
    tasks = []
    for n in range(30):
        tasks.append(asyncio.create_task(queue.submit(n)))
        await asyncio.sleep(0.001)
    assert await asyncio.gather(*tasks) == [n * 2 for n in range(30)]
    assert apply.most_at_once == 3
    assert sorted(c for batch in apply.batches for c in batch) == list(range(30))
    assert len(apply.batches) < 30  # commands that found every lane busy shared a batch


async def test_a_command_that_finds_a_lane_free_does_not_wait_for_a_busy_one():
    apply = Recorder(seconds=0.2)
    queue: BatchQueue[int, int] = BatchQueue(apply, name="test", lanes=2)
    slow = asyncio.create_task(queue.submit(1))
    await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    apply.seconds = 0.0
    assert await queue.submit(2) == 4
    assert asyncio.get_running_loop().time() - started < 0.1
    assert await slow == 2


async def test_each_command_gets_its_own_refusal_and_a_failed_batch_fails_all_of_it():
    apply = Recorder()
    queue: BatchQueue[int, int] = BatchQueue(apply, name="test", lanes=2)
    outcomes = await asyncio.gather(*(queue.submit(n) for n in (1, -1, 2)), return_exceptions=True)
    assert outcomes[0] == 2
    assert outcomes[2] == 4
    assert isinstance(outcomes[1], ValueError)

    async def broken(commands: list[int]) -> list[int | Exception]:
        raise ConnectionError("down")

    queue = BatchQueue(broken, name="test", lanes=2)
    failed = await asyncio.gather(*(queue.submit(n) for n in range(4)), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in failed)


async def test_an_apply_that_answers_the_wrong_number_fails_its_batch_instead_of_hanging():
    async def short(commands: list[int]) -> list[int | Exception]:
        return commands[1:]

    queue: BatchQueue[int, int] = BatchQueue(short, name="test", lanes=2)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(queue.submit(n) for n in range(3)), return_exceptions=True), 5
    )
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert await asyncio.wait_for(BatchQueue(Recorder(), name="test").submit(4), 5) == 8


async def test_close_waits_for_every_queued_command():
    apply = Recorder(seconds=0.02)
    queue: BatchQueue[int, int] = BatchQueue(apply, name="test", lanes=2)
    tasks = [asyncio.create_task(queue.submit(n)) for n in range(10)]
    await asyncio.sleep(0)
    await queue.close()
    assert all(task.done() for task in tasks)
    assert not queue.drains
    assert queue.idle_lanes == 0


@settings(max_examples=60, deadline=None)
@given(
    lanes=st.integers(1, 4),
    max_batch=st.integers(1, 5),
    plan=st.lists(
        st.tuples(st.integers(-3, 50), st.sampled_from([0, 0, 0.001, 0.003])), max_size=40
    ),
    apply_seconds=st.sampled_from([0, 0.001, 0.004]),
)
def test_no_command_is_ever_left_waiting(lanes, max_batch, plan, apply_seconds):
    """Whatever the timing, every command gets its own outcome and lanes are never exceeded."""

    async def scenario() -> None:
        apply = Recorder(seconds=apply_seconds)
        queue: BatchQueue[int, int] = BatchQueue(apply, max_batch, name="test", lanes=lanes)
        tasks = []
        for command, pause in plan:
            tasks.append(asyncio.create_task(queue.submit(command)))
            await asyncio.sleep(pause)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*tasks, return_exceptions=True), timeout=10
        )
        for (command, _), outcome in zip(plan, outcomes, strict=True):
            if command < 0:
                assert isinstance(outcome, ValueError)
            else:
                assert outcome == command * 2
        assert apply.most_at_once <= lanes
        assert all(len(batch) <= max_batch for batch in apply.batches)
        assert not queue.drains
        assert queue.idle_lanes == 0

    asyncio.run(scenario())


def test_lanes_default_to_one():
    assert BatchQueue(Recorder(), name="test").lanes == 1


async def test_submit_many_queues_its_commands_together_and_answers_each_in_its_place():
    apply = Recorder()
    queue: BatchQueue[int, int] = BatchQueue(apply, name="test", max_batch=3)
    alone = asyncio.create_task(queue.submit(1))
    await asyncio.sleep(0.002)  # the first batch is being applied
    outcomes = await queue.submit_many([2, -3, 4, 5])
    assert outcomes[0] == 4
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2:] == [8, 10]
    assert await alone == 2
    assert apply.batches == [[1], [2, -3, 4], [5]]  # split at max_batch, in order

    async def broken(commands: list[int]) -> list[int | Exception]:
        raise ConnectionError("down")

    failed = await BatchQueue(broken, name="test").submit_many([1, 2])
    assert all(isinstance(outcome, ConnectionError) for outcome in failed)
    assert await queue.submit_many([]) == []
