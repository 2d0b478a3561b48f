"""Workers: claims, leases and their heartbeat, release, and the expiry sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from threadline.errors import InvalidRequestError
from threadline.ids import now
from threadline.protocol.runs import CreateRunRequest, Run, SubmitToolOutputsRequest
from threadline.runs.events import Event
from threadline.runs.stream import open_stream
from threadline.runs.worker import Worker, WorkerConfig
from threadline.testing import Reply

from .conftest import WEATHER, Harness, delta_text, names, request, text_of

PARIS = '{"city": "Paris"}'
LEASE = 0.3
SETTLED = frozenset(
    {"requires_action", "completed", "failed", "cancelled", "expired", "incomplete"}
)


class Recorder:
    """A worker listener: every event it was told about, by run."""

    def __init__(self) -> None:
        self.events: dict[str, list[Event]] = {}

    def __call__(self, run_id: str, event: Event) -> None:
        self.events.setdefault(run_id, []).append(event)

    def started(self) -> set[str]:
        return {
            run_id
            for run_id, events in self.events.items()
            if "thread.run.in_progress" in names(events)
        }


def make_worker(harness: Harness, listener: Recorder | None = None, **config: Any) -> Worker:
    settings = {"lease_seconds": LEASE, "poll_interval": 0.05, "sweep_interval": 0.05} | config
    return Worker(harness.store, harness.executor, harness.bus, WorkerConfig(**settings), listener)


@contextlib.asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    for worker in workers:
        await worker.start()
    try:
        yield
    finally:
        for worker in workers:
            await worker.stop()


async def until(check: Callable[[], Awaitable[bool]], within: float = 1.5) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def settled(harness: Harness, run: Run, within: float = 1.5) -> Run:
    async def done() -> bool:
        return (await harness.get(run)).status in SETTLED

    await until(done, within)
    return await harness.get(run)


async def past_expiry(harness: Harness, run: Run) -> None:
    await harness.store.update_run(run.id, lambda r: r.model_copy(update={"expires_at": now() - 1}))


# Runs executed where they were created


async def test_an_adopted_run_has_called_the_model_when_adopt_returns(harness: Harness) -> None:
    """The model call goes out before the client is answered (it is on the run's way)."""
    harness.model.enqueue(Reply(text="slow reply", delay=0.05))
    worker = make_worker(harness)
    async with running(worker):
        lease = await worker.reserve()
        assert lease is not None
        assistant = await harness.assistant()
        thread = await harness.thread("Hello")
        body = request(CreateRunRequest, assistant_id=assistant.id)
        run = await harness.services.runs.create(thread.id, body, lease)
        assert harness.model.history == []
        await worker.adopt(run)
        assert len(harness.model.history) == 1
        assert (await settled(harness, run)).status == "completed"


async def test_a_streamed_run_has_called_the_model_when_its_stream_opens(
    harness: Harness,
) -> None:
    harness.model.enqueue(Reply(text="slow reply", delay=0.05))
    worker = make_worker(harness)
    async with running(worker):
        assistant = await harness.assistant()
        thread = await harness.thread("Hello")
        body = request(CreateRunRequest, assistant_id=assistant.id)
        run = await harness.services.runs.create(thread.id, body, worker.lease())
        stream = await open_stream(worker, run)
        assert len(harness.model.history) == 1
        events = [event for batch in [b async for b in stream.events()] for event in batch]
    assert events[0] is not None
    assert events[0].event == "thread.run.in_progress"
    assert delta_text([e for e in events if e is not None]) == "slow reply"


# Claims


async def test_owners_claim_distinct_runs_until_none_is_left(harness: Harness) -> None:
    runs = [await harness.start() for _ in range(4)]
    claims = []
    for owner in ["a", "b", "a", "b"]:
        claim = await harness.store.claim_next_run(owner, time.time(), 30.0)
        assert claim is not None
        assert claim.recoveries == 0
        claims.append(claim.run.id)
    assert claims == [run.id for run in runs]
    assert await harness.store.claim_next_run("a", time.time(), 30.0) is None
    assert await harness.store.claim_next_run("b", time.time(), 30.0) is None


async def test_two_workers_never_hold_the_same_run(harness: Harness) -> None:
    harness.model.enqueue(*[Reply(text="one two three", delay=0.01)] * 6)
    runs = [await harness.start() for _ in range(6)]
    first, second = Recorder(), Recorder()
    # A long lease: under load a stalled loop could let a short one lapse, and a lapsed
    # lease is rightly retaken (that is recovery, tested elsewhere), not what this tests.
    workers = (
        make_worker(harness, first, lease_seconds=10),
        make_worker(harness, second, lease_seconds=10),
    )
    assert workers[0].owner != workers[1].owner
    async with running(*workers):
        finals = [await settled(harness, run) for run in runs]
    assert [run.status for run in finals] == ["completed"] * 6
    assert not first.started() & second.started()
    assert first.started() | second.started() == {run.id for run in runs}
    assert len(harness.model.history) == 6
    for recorder in (first, second):
        for events in recorder.events.values():
            assert names(events).count("thread.run.in_progress") == 1


async def test_concurrency_bounds_the_runs_one_worker_executes(harness: Harness) -> None:
    harness.model.enqueue(*[Reply(text="a b c d", delay=0.02)] * 3)
    runs = [await harness.start() for _ in range(3)]
    busy = 0
    most = 0

    def count(run_id: str, event: Event) -> None:
        nonlocal busy, most
        if event.event == "thread.run.in_progress":
            busy += 1
            most = max(most, busy)
        elif event.event == "thread.run.completed":
            busy -= 1

    worker = Worker(
        harness.store,
        harness.executor,
        harness.bus,
        WorkerConfig(concurrency=1, lease_seconds=LEASE, poll_interval=0.05),
        count,
    )
    async with running(worker):
        finals = [await settled(harness, run) for run in runs]
    assert [run.status for run in finals] == ["completed"] * 3
    assert most == 1


# Leases


async def test_the_heartbeat_keeps_a_long_run_leased(harness: Harness) -> None:
    harness.model.enqueue(Reply(text=" ".join(["word"] * 20), delay=0.04))
    run = await harness.start()
    async with running(make_worker(harness)):

        async def started() -> bool:
            return (await harness.get(run)).status == "in_progress"

        await until(started)
        await asyncio.sleep(LEASE * 2)
        assert (await harness.get(run)).status == "in_progress"
        assert await harness.store.claim_next_run("intruder", time.time(), LEASE) is None
        final = await settled(harness, run, within=2)
    assert final.status == "completed"
    assert len(harness.model.history) == 1


async def test_a_lapsed_lease_is_claimed_again_as_a_recovery(harness: Harness) -> None:
    run = await harness.start()
    claim = await harness.store.claim_next_run("dead", time.time(), LEASE)
    assert claim is not None
    await harness.store.update_run(run.id, lambda r: r.model_copy(update={"status": "in_progress"}))
    assert await harness.store.renew_leases("dead", [run.id], time.time(), LEASE) == {run.id}
    assert await harness.store.claim_next_run("other", time.time(), LEASE) is None
    again = await harness.store.claim_next_run("other", time.time() + LEASE + 0.1, LEASE)
    assert again is not None
    assert (again.run.id, again.recoveries, again.recovered) == (run.id, 1, True)
    assert await harness.store.renew_leases("dead", [run.id], time.time(), LEASE) == set()


async def test_release_makes_a_run_claimable_again(harness: Harness) -> None:
    run = await harness.start()
    claim = await harness.store.claim_next_run("a", time.time(), 30.0)
    assert claim is not None
    assert await harness.store.claim_next_run("b", time.time(), 30.0) is None
    await harness.store.release_run(run.id, "b")  # not b's to release
    assert await harness.store.claim_next_run("b", time.time(), 30.0) is None
    await harness.store.release_run(run.id, "a")
    again = await harness.store.claim_next_run("b", time.time(), 30.0)
    assert again is not None
    assert (again.run.id, again.recoveries) == (run.id, 0)


async def test_a_worker_releases_a_run_that_waits_for_tool_outputs(harness: Harness) -> None:
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)), Reply(text="Sunny."))
    run = await harness.start(assistant={"tools": [WEATHER]})
    recorder = Recorder()
    async with running(make_worker(harness, recorder)):
        waiting = await settled(harness, run)
        assert waiting.status == "requires_action"
        assert waiting.required_action is not None
        [call] = waiting.required_action.submit_tool_outputs.tool_calls
        await harness.submit(run, {call.id: "sunny"})
        final = await settled(harness, run)
    assert final.status == "completed"
    assert text_of(await harness.reply(run)) == "Sunny."
    assert names(recorder.events[run.id]).count("thread.run.in_progress") == 2


async def test_a_run_waiting_for_outputs_is_cancelled_at_once(harness: Harness) -> None:
    """Its executor let the lease go in the write that parked it: a cancel is finished by
    the next claim, not once a lease lapses (30 s here)."""
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)))
    run = await harness.start(assistant={"tools": [WEATHER]})
    async with running(make_worker(harness, lease_seconds=30.0)):
        assert (await settled(harness, run)).status == "requires_action"
        await harness.services.runs.cancel(run.thread_id, run.id)
        final = await settled(harness, run)
    assert final.status == "cancelled"


async def test_outputs_taken_with_a_slot_free_resume_the_run_here_at_once(
    harness: Harness,
) -> None:
    """As a new run is (`adopt`): the write that takes the outputs stores the run in
    progress under this worker's lease (no claim, no status write of its own), and the model
    is called before the client is answered; the answered step is completed as before."""
    harness.model.enqueue(
        Reply(tool_calls=(("get_weather", PARIS),)), Reply(text="Sunny.", delay=0.05)
    )
    run = await harness.start(assistant={"tools": [WEATHER]})
    await harness.drive()
    waiting = await harness.get(run)
    assert waiting.required_action is not None
    [call] = waiting.required_action.submit_tool_outputs.tool_calls
    recorder = Recorder()
    worker = make_worker(harness, recorder)
    async with running(worker):
        lease = await worker.reserve()
        assert lease is not None
        body = request(
            SubmitToolOutputsRequest, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}]
        )
        resumed = await harness.services.runs.submit_tool_outputs(
            run.thread_id, run.id, body, lease
        )
        assert resumed.status == "in_progress"
        assert await harness.store.claim_run(run.id, "other", time.time(), 30.0) is None
        calls = len(harness.model.history)
        await worker.adopt(resumed, resumed=True)
        assert len(harness.model.history) == calls + 1
        final = await settled(harness, run)
    assert final.status == "completed"
    assert text_of(await harness.reply(run)) == "Sunny."
    events = names(recorder.events[run.id])
    assert events[:2] == ["thread.run.in_progress", "thread.run.step.completed"]
    [answered, _] = await harness.steps(run)
    assert answered.status == "completed"
    assert answered.step_details.type == "tool_calls"
    [function] = answered.step_details.tool_calls
    assert function.type == "function"
    assert function.function.output == "sunny"


async def test_a_worker_that_loses_a_lease_stops_executing(harness: Harness) -> None:
    harness.model.enqueue(Reply(text=" ".join(["word"] * 40), delay=0.03))
    run = await harness.start()
    recorder = Recorder()
    worker = make_worker(harness, recorder)
    async with running(worker):

        async def streaming() -> bool:
            return "thread.message.delta" in names(recorder.events.get(run.id, []))

        await until(streaming)
        await harness.store.release_run(run.id, worker.owner)
        taken = await harness.store.claim_next_run("other", time.time(), 30.0)
        assert taken is not None
        await asyncio.sleep(LEASE)
        count = len(recorder.events[run.id])
        await asyncio.sleep(0.2)
        assert len(recorder.events[run.id]) == count
    assert (await harness.get(run)).status == "in_progress"


async def test_a_stopped_worker_hands_its_runs_back(harness: Harness) -> None:
    harness.model.enqueue(Reply(text=" ".join(["word"] * 40), delay=0.03))
    run = await harness.start()
    recorder = Recorder()
    async with running(make_worker(harness, recorder)):

        async def streaming() -> bool:
            return "thread.message.delta" in names(recorder.events.get(run.id, []))

        await until(streaming)
    claim = await harness.store.claim_next_run("next", time.time(), 30.0)
    assert claim is not None
    assert (claim.run.id, claim.recovered) == (run.id, True)


# The sweeper


async def _waiting(harness: Harness) -> Run:
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)))
    run = await harness.start(assistant={"tools": [WEATHER]})
    await harness.drive()
    assert (await harness.get(run)).status == "requires_action"
    return run


async def test_the_sweeper_expires_a_run_waiting_for_outputs(harness: Harness) -> None:
    run = await _waiting(harness)
    recorder = Recorder()
    worker = make_worker(harness, recorder)
    assert await worker.sweep() == 0
    await past_expiry(harness, run)
    assert await worker.sweep() == 1
    assert await worker.sweep() == 0
    final = await harness.get(run)
    assert final.status == "expired"
    assert (final.expires_at, final.required_action) == (None, None)
    [step] = await harness.steps(run)
    assert step.status == "expired"
    assert step.expired_at is not None
    assert names(recorder.events[run.id]) == ["thread.run.step.expired", "thread.run.expired"]

    with pytest.raises(InvalidRequestError) as caught:
        await harness.submit(run, {"call_x": "late"})
    assert caught.value.message == 'Runs in status "expired" do not accept tool outputs.'
    assert caught.value.status_code == 400


async def test_the_sweep_loop_expires_runs_on_its_own(harness: Harness) -> None:
    run = await _waiting(harness)
    await past_expiry(harness, run)
    async with running(make_worker(harness)):

        async def expired() -> bool:
            return (await harness.get(run)).status == "expired"

        await until(expired)
    [step] = await harness.steps(run)
    assert step.status == "expired"


async def test_the_sweeper_leaves_unexpired_and_ended_runs_alone(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Done."))
    done = await harness.start()
    await harness.drive()
    waiting = await _waiting(harness)
    assert await make_worker(harness).sweep() == 0
    assert (await harness.get(done)).status == "completed"
    assert (await harness.get(waiting)).status == "requires_action"


async def test_expiry_stops_a_run_mid_reply(harness: Harness) -> None:
    harness.model.enqueue(Reply(text=" ".join(["word"] * 40), delay=0.03))
    run = await harness.start()
    recorder = Recorder()
    worker = make_worker(harness, recorder, sweep_interval=60.0)
    async with running(worker):

        async def streaming() -> bool:
            return "thread.message.delta" in names(recorder.events.get(run.id, []))

        await until(streaming)
        await past_expiry(harness, run)
        assert await worker.sweep() == 1
        assert (await harness.get(run)).status == "expired"
        await asyncio.sleep(0.1)
        count = len(recorder.events[run.id])
        await asyncio.sleep(0.1)
        assert len(recorder.events[run.id]) == count
    message = await harness.reply(run)
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_expired"
    assert text_of(message) == delta_text(recorder.events[run.id]) != ""
    [step] = await harness.steps(run)
    assert step.status == "expired"
    assert names(recorder.events[run.id])[-3:] == [
        "thread.run.step.expired",
        "thread.message.incomplete",
        "thread.run.expired",
    ]


async def test_a_queued_run_past_expiry_expires_without_executing(harness: Harness) -> None:
    run = await harness.start()
    await past_expiry(harness, run)
    assert await make_worker(harness).sweep() == 1
    assert (await harness.get(run)).status == "expired"
    assert await harness.store.claim_next_run("a", time.time(), 30.0) is None
