"""The long poll behind the SDK's poll helpers (`RunService.wait`): it returns once the run
needs the client or has ended, taking the run from the update that told of it when the
writer handed it over (one process), and reading the store otherwise."""

from __future__ import annotations

import asyncio

import pytest

from tests.runs.conftest import Harness
from threadline.protocol.runs import Run
from threadline.store.memory import MemoryStore


class CountingStore(MemoryStore):
    """The in-memory store, counting the reads of runs."""

    def __init__(self) -> None:
        super().__init__()
        self.run_reads = 0

    async def get_run(self, thread_id: str, run_id: str) -> Run | None:
        self.run_reads += 1
        return await super().get_run(thread_id, run_id)


@pytest.fixture
def harness() -> Harness:
    return Harness(store=CountingStore())


def reads(harness: Harness) -> int:
    assert isinstance(harness.store, CountingStore)
    return harness.store.run_reads


async def waiting(harness: Harness, run: Run, seconds: float = 5.0) -> asyncio.Task[Run]:
    """The long poll on `run`, once it has read the run and waits."""
    task = asyncio.create_task(harness.services.runs.wait(run.thread_id, run.id, seconds))
    for _ in range(3):  # the memory store answers without waiting
        await asyncio.sleep(0)
    assert reads(harness) == 1
    return task


async def test_the_run_an_update_carries_is_returned_without_a_read(harness: Harness) -> None:
    run = await harness.start()
    poll = await waiting(harness, run)
    harness.bus.run_updated(run.id, run.model_copy(update={"status": "in_progress"}))
    await asyncio.sleep(0)
    assert not poll.done()  # still moving: the poll goes on waiting
    ended = run.model_copy(update={"status": "completed"})
    harness.bus.run_updated(run.id, ended)
    assert await poll == ended
    assert reads(harness) == 1


async def test_an_update_without_the_run_is_read_from_the_store(harness: Harness) -> None:
    run = await harness.start()
    poll = await waiting(harness, run)
    await harness.drive()
    harness.bus.run_updated(run.id)
    done = await poll
    assert done.status == "completed"
    assert done == await harness.get(run)
    assert reads(harness) >= 2


async def test_a_poll_that_hears_nothing_returns_the_run_as_it_is(harness: Harness) -> None:
    run = await harness.start()
    polled = await harness.services.runs.wait(run.thread_id, run.id, 0.01)
    assert polled.status == "queued"


async def test_a_run_already_needing_nothing_more_returns_at_once(harness: Harness) -> None:
    run = await harness.start()
    await harness.drive()
    polled = await harness.services.runs.wait(run.thread_id, run.id, 5.0)
    assert polled.status == "completed"
    assert reads(harness) == 1
