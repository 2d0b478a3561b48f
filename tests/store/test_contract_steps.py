"""The store contract for run steps, a thread's history and what deleting a thread removes."""

from __future__ import annotations

from typing import Any

import pytest

from threadline.errors import InvalidRequestError
from threadline.ids import new_id
from threadline.protocol.common import ListQuery
from threadline.protocol.runs import (
    MessageCreationDetails,
    Run,
    RunStep,
    StepError,
    ToolCallsDetails,
    Usage,
)
from threadline.store import Store, sql_runs
from threadline.store.base import Lease

from .test_contract import NOW, message, thread
from .test_contract_runs import LEASE, lease_of, new_run, set_status

TOOL_CALLS: list[dict[str, Any]] = [
    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
    {
        "id": "call_2",
        "type": "code_interpreter",
        "code_interpreter": {
            "input": "print('ü')",
            "outputs": [
                {"type": "logs", "logs": "ü\n"},
                {"type": "image", "image": {"file_id": "file_1"}},
            ],
        },
    },
    {
        "id": "call_3",
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "auto", "score_threshold": 0.5},
            "results": [
                {
                    "file_id": "file_2",
                    "file_name": "a.txt",
                    "score": 0.75,
                    "content": [{"type": "text", "text": "x"}],
                }
            ],
        },
    },
]


def step(owner: Run, kind: str = "tool_calls", **changes: Any) -> RunStep:
    details: MessageCreationDetails | ToolCallsDetails
    if kind == "tool_calls":
        details = ToolCallsDetails()
    else:
        details = MessageCreationDetails.model_validate({"message_creation": {"message_id": "m"}})
    fields: dict[str, Any] = {
        "id": new_id("step"),
        "created_at": NOW,
        "assistant_id": owner.assistant_id,
        "thread_id": owner.thread_id,
        "run_id": owner.id,
        "type": kind,
        "status": "in_progress",
        "step_details": details,
        "metadata": {},
    }
    return RunStep(**(fields | changes))


async def steps_of(store: Store, owner: Run, count: int) -> list[str]:
    ids = [step(owner) for _ in range(count)]
    for s in ids:
        await store.insert_step(s)
    return [s.id for s in ids]


async def test_step_round_trips_exactly(store: Store) -> None:
    owner = await new_run(store)
    rich = step(
        owner,
        status="failed",
        step_details=ToolCallsDetails.model_validate({"tool_calls": TOOL_CALLS}),
        last_error=StepError(code="server_error", message="boom"),
        failed_at=NOW + 2,
        usage=Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
        metadata={"k": "v"},
    )
    plain = step(owner, "message_creation")
    await store.insert_step(rich)
    await store.insert_step(plain)
    assert await store.get_step(owner.thread_id, owner.id, rich.id) == rich
    assert await store.get_step(owner.thread_id, owner.id, plain.id) == plain
    assert await store.get_step("thread_other", owner.id, rich.id) is None
    assert await store.get_step(owner.thread_id, "run_other", rich.id) is None
    assert await store.get_step(owner.thread_id, owner.id, "step_\x00") is None


async def test_update_and_delete_step(store: Store) -> None:
    owner = await new_run(store)
    current = step(owner)
    await store.insert_step(current)
    usage = Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2)
    done = await store.update_step(
        current.id, lambda s: s.model_copy(update={"status": "completed", "usage": usage})
    )
    assert done == current.model_copy(update={"status": "completed", "usage": usage})
    assert await store.get_step(owner.thread_id, owner.id, current.id) == done
    assert await store.update_step("step_missing", lambda s: s) is None
    assert await store.delete_step(current.id) is True
    assert await store.delete_step(current.id) is False
    assert await store.get_step(owner.thread_id, owner.id, current.id) is None


async def test_update_step_rolls_back_on_exception(store: Store) -> None:
    owner = await new_run(store)
    current = step(owner)
    await store.insert_step(current)

    def refuse(s: RunStep) -> RunStep:
        raise KeyError("refused")

    with pytest.raises(KeyError, match="refused"):
        await store.update_step(current.id, refuse)
    assert await store.get_step(owner.thread_id, owner.id, current.id) == current


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_list_steps_pages_within_the_run(store: Store, order: str) -> None:
    owner = await new_run(store)
    ids = await steps_of(store, owner, 5)
    other = await new_run(store)
    foreign = await steps_of(store, other, 1)
    o = ids if order == "asc" else ids[::-1]

    async def page(**query: Any) -> tuple[list[str], bool]:
        found = await store.list_steps(owner.thread_id, owner.id, ListQuery(order=order, **query))
        return [s.id for s in found.data], found.has_more

    assert await page(limit=2) == (o[:2], True)
    assert await page(after=o[1], limit=2) == (o[2:4], True)
    assert await page(after=o[2]) == (o[3:], False)
    assert await page(before=o[4], limit=2) == (o[2:4], True)
    assert await page(after=o[0], before=o[3]) == (o[1:3], False)
    with pytest.raises(InvalidRequestError) as caught:
        await page(before=foreign[0])
    assert caught.value.param == "before"
    found = await store.list_steps("thread_other", owner.id, ListQuery())
    assert found.data == []


async def test_step_cursor_must_be_in_the_run(store: Store) -> None:
    first = await new_run(store, "completed")
    second = await new_run(store, thread_id=first.thread_id)  # same thread, next run
    earlier = await steps_of(store, first, 1)
    await steps_of(store, second, 2)
    with pytest.raises(InvalidRequestError) as caught:
        await store.list_steps(second.thread_id, second.id, ListQuery(after=earlier[0]))
    assert caught.value.param == "after"


async def test_run_steps_in_creation_order(store: Store) -> None:
    owner, other = await new_run(store), await new_run(store)
    ids = await steps_of(store, owner, 3)
    await steps_of(store, other, 2)
    ids += await steps_of(store, owner, 2)
    assert [s.id for s in await store.run_steps(owner.id)] == ids
    assert await store.run_steps("run_missing") == []


async def test_thread_history_interleaves_messages_and_tool_steps(store: Store) -> None:
    t = thread()
    opening = message(t.id, "first")
    await store.insert_thread(t, [opening])
    owner = await new_run(store, thread_id=t.id)
    await store.insert_step(step(owner, "message_creation"))  # not part of the history
    said = message(t.id, "thinking", role="assistant", run_id=owner.id)
    await store.insert_message(said)
    called = step(owner, step_details=ToolCallsDetails.model_validate({"tool_calls": TOOL_CALLS}))
    await store.insert_step(called)
    answer = message(t.id, "answer", role="assistant", run_id=owner.id)
    await store.insert_message(answer)
    await set_status(store, owner, "completed")
    closing = message(t.id, "thanks")
    await store.insert_message(closing)
    elsewhere = await new_run(store)
    await steps_of(store, elsewhere, 1)
    history = await store.thread_history(t.id)
    assert history == [opening, said, called, answer, closing]
    assert await store.thread_history("thread_missing") == []


@pytest.fixture
def inline_history(monkeypatch: pytest.MonkeyPatch) -> int:
    """How many history items a SQLite store reads at once (fewer here: a quick test)."""
    monkeypatch.setattr(sql_runs, "INLINE_HISTORY", 100)
    return 100


async def test_a_long_thread_history_comes_whole_and_in_order(
    store: Store, inline_history: int
) -> None:
    """Past the items a SQLite store reads at once on the event loop, the rest is read too
    (on a reader thread), in order."""
    t = thread()
    opening = [message(t.id, f"m{i}") for i in range(32)]
    await store.insert_thread(t, opening)
    later = [message(t.id, f"m{i}") for i in range(32, inline_history + 30)]
    for m in later:
        await store.insert_message(m)
    history = await store.thread_history(t.id)
    assert [item.id for item in history] == [m.id for m in opening + later]


async def test_a_history_of_exactly_the_inline_count_comes_whole(
    store: Store, inline_history: int
) -> None:
    t = thread()
    opening = [message(t.id, f"m{i}") for i in range(32)]
    await store.insert_thread(t, opening)
    later = [message(t.id, f"m{i}") for i in range(32, inline_history)]
    for m in later:
        await store.insert_message(m)
    history = await store.thread_history(t.id)
    assert [item.id for item in history] == [m.id for m in opening + later]


async def test_a_history_item_written_since_it_was_read_is_read_anew(store: Store) -> None:
    """What a store keeps of a history it read never hides a later write: a message
    replaced, a step updated, a run's ending closing both, a message deleted."""
    t = thread()
    asked = message(t.id, "first")
    await store.insert_thread(t, [asked])
    owner = await new_run(store, thread_id=t.id)
    said = message(t.id, "partial", role="assistant", run_id=owner.id, status="in_progress")
    await store.insert_message(said)
    called = step(owner, step_details=ToolCallsDetails.model_validate({"tool_calls": TOOL_CALLS}))
    await store.insert_step(called)
    assert await store.thread_history(t.id) == [asked, said, called]

    edited = asked.model_copy(update={"metadata": {"k": "v"}})
    assert await store.replace_message(edited)
    answered = called.model_copy(update={"metadata": {"answered": "yes"}})
    assert await store.update_step(called.id, lambda _: answered) == answered
    assert await store.thread_history(t.id) == [edited, said, answered]

    whole = said.model_copy(update={"content": message(t.id, "the whole answer").content})
    ending = await store.end_run(
        owner.id,
        lambda r: r.model_copy(update={"status": "completed"}),
        lambda s: s.model_copy(update={"status": "completed", "completed_at": NOW}),
        lambda m: whole.model_copy(update={"status": "completed"}) if m.id == said.id else m,
    )
    assert ending is not None
    closed = [item for item in ending.messages if item.id == said.id]
    done = [item for item in ending.steps if item.id == called.id]
    assert await store.thread_history(t.id) == [edited, *closed, *done]
    assert closed[0].status == "completed"
    assert done[0].status == "completed"

    assert await store.delete_message(t.id, edited.id)
    assert await store.thread_history(t.id) == [*closed, *done]


async def test_delete_thread_removes_runs_and_steps(store: Store) -> None:
    doomed, kept = await new_run(store), await new_run(store)
    gone_steps = await steps_of(store, doomed, 2)
    kept_steps = await steps_of(store, kept, 1)
    assert await store.delete_thread(doomed.thread_id) is True
    assert await store.get_run(doomed.thread_id, doomed.id) is None
    assert (await store.list_runs(doomed.thread_id, ListQuery())).data == []
    assert await store.run_steps(doomed.id) == []
    assert await store.get_step(doomed.thread_id, doomed.id, gone_steps[0]) is None
    assert await store.update_run(doomed.id, lambda r: r) is None
    assert await store.thread_history(doomed.thread_id) == []
    claim = await store.claim_next_run("w", NOW, LEASE)
    assert lease_of(claim) == (kept.id, 0)
    assert [s.id for s in await store.run_steps(kept.id)] == kept_steps


async def test_a_step_is_inserted_with_the_message_it_creates(store: Store) -> None:
    owner = await new_run(store, "in_progress")
    created = message(owner.thread_id, run_id=owner.id, status="in_progress", role="assistant")
    creating = step(owner, "message_creation")
    await store.insert_step(creating, created)
    assert [s.id for s in await store.run_steps(owner.id)] == [creating.id]
    assert await store.get_message(owner.thread_id, created.id) == created
    history = await store.thread_history(owner.thread_id)
    assert created.id in [item.id for item in history]


async def test_steps_of_a_deleted_run_raise_nothing(store: Store) -> None:
    doomed = await new_run(store)
    await store.delete_thread(doomed.thread_id)
    await store.insert_step(step(doomed))  # the executor may still be finishing it
    gone = message(doomed.thread_id, run_id=doomed.id, status="in_progress", role="assistant")
    await store.insert_step(step(doomed, "message_creation"), gone)
    assert await store.get_message(doomed.thread_id, gone.id) is None
    assert await store.update_step("step_missing", lambda s: s) is None


async def test_end_run_closes_open_steps_and_messages_with_the_run(store: Store) -> None:
    owner = await new_run(store, "in_progress")
    done, open_step = step(owner, status="completed"), step(owner, "message_creation")
    later_step = step(owner)
    for s in (done, open_step, later_step):
        await store.insert_step(s)
    writing = message(owner.thread_id, run_id=owner.id, status="in_progress", role="assistant")
    finished = message(owner.thread_id, run_id=owner.id, role="assistant")
    later = message(owner.thread_id, run_id=owner.id, status="in_progress", role="assistant")
    for m in (writing, finished, later):
        assert await store.insert_message(m)

    ending = await store.end_run(
        owner.id,
        lambda r: r.model_copy(update={"status": "cancelled"}),
        lambda s: s.model_copy(update={"status": "cancelled"}),
        lambda m: m.model_copy(update={"status": "incomplete"}),
    )
    assert ending is not None
    assert ending.run.status == "cancelled"
    # In the order they were created, steps and messages each.
    closed = [(open_step.id, "cancelled"), (later_step.id, "cancelled")]
    assert [(s.id, s.status) for s in ending.steps] == closed
    assert [(m.id, m.status) for m in ending.messages] == [
        (writing.id, "incomplete"),
        (later.id, "incomplete"),
    ]
    stored_steps = [s.status for s in await store.run_steps(owner.id)]
    assert stored_steps == ["completed", "cancelled", "cancelled"]
    stored = await store.get_message(owner.thread_id, writing.id)
    assert stored is not None
    assert stored.status == "incomplete"
    assert await store.end_run("run_missing", lambda r: r, lambda s: s, lambda m: m) is None


async def test_end_run_stores_a_created_message_and_its_step_closed(store: Store) -> None:
    owner = await new_run(store, "in_progress")
    earlier = step(owner, "tool_calls", status="completed")
    await store.insert_step(earlier)
    created = message(owner.thread_id, run_id=owner.id, status="in_progress", role="assistant")
    creating = step(owner, "message_creation")
    ending = await store.end_run(
        owner.id,
        lambda r: r.model_copy(update={"status": "completed"}),
        lambda s: s.model_copy(update={"status": "completed"}),
        lambda m: m.model_copy(update={"status": "completed"}),
        (creating, created),
    )
    assert ending is not None
    assert [(s.id, s.status) for s in ending.steps] == [(creating.id, "completed")]
    assert [(m.id, m.status) for m in ending.messages] == [(created.id, "completed")]
    stored = await store.run_steps(owner.id)
    assert [(s.id, s.status) for s in stored] == [
        (earlier.id, "completed"),
        (creating.id, "completed"),
    ]
    kept = await store.get_message(owner.thread_id, created.id)
    assert kept is not None
    assert kept.status == "completed"
    gone = await new_run(store, "in_progress")
    await store.delete_thread(gone.thread_id)
    lost = message(gone.thread_id, run_id=gone.id, status="in_progress", role="assistant")
    lost_step = step(gone, "message_creation")
    same = (lambda r: r, lambda s: s, lambda m: m)
    assert await store.end_run(gone.id, *same, (lost_step, lost)) is None
    assert await store.run_steps(gone.id) == []


async def test_end_run_writes_nothing_when_the_change_refuses(store: Store) -> None:
    owner = await new_run(store, "in_progress")
    await store.insert_step(step(owner))

    def refuse(current: Run) -> Run:
        raise LookupError("no")

    with pytest.raises(LookupError):
        await store.end_run(
            owner.id, refuse, lambda s: s.model_copy(update={"status": "failed"}), lambda m: m
        )
    assert (await store.get_run(owner.thread_id, owner.id)) == owner
    assert [s.status for s in await store.run_steps(owner.id)] == ["in_progress"]


def _noted(s: RunStep) -> RunStep:
    return s.model_copy(update={"metadata": {"outputs": "in"}})


def _queued(r: Run) -> Run:
    if r.status != "requires_action":
        raise InvalidRequestError(f'Runs in status "{r.status}" do not accept tool outputs.')
    return r.model_copy(update={"status": "queued"})


async def test_resume_run_changes_the_run_and_its_step_in_one_write(store: Store) -> None:
    waiting = await new_run(store, "requires_action")
    answered = step(waiting)
    await store.insert_step(answered)
    resumed = await store.resume_run(waiting.id, _queued, (answered.id, _noted))
    assert resumed is not None
    assert resumed.status == "queued"
    assert await store.get_run(waiting.thread_id, waiting.id) == resumed
    [stored] = await store.run_steps(waiting.id)
    assert stored.metadata == {"outputs": "in"}
    # Without a lease the run goes to whichever worker claims it.
    assert lease_of(await store.claim_next_run("w", NOW, LEASE)) == (waiting.id, 0)


async def test_resume_run_without_a_lease_lets_any_held_one_go(store: Store) -> None:
    waiting = await new_run(store)
    assert await store.claim_next_run("old", NOW, LEASE)
    await set_status(store, waiting, "requires_action")
    assert await store.resume_run(waiting.id, _queued)
    assert lease_of(await store.claim_next_run("new", NOW + 1, LEASE)) == (waiting.id, 0)


async def test_resume_run_with_a_lease_holds_the_run(store: Store) -> None:
    waiting = await new_run(store, "requires_action")

    def started(r: Run) -> Run:
        return r.model_copy(update={"status": "in_progress"})

    resumed = await store.resume_run(waiting.id, started, lease=Lease("me", NOW + LEASE))
    assert resumed is not None
    assert resumed.status == "in_progress"
    assert await store.claim_next_run("them", NOW + 1, LEASE) is None  # held
    assert await store.renew_leases("me", [waiting.id], NOW + 1, LEASE) == {waiting.id}
    recovered = await store.claim_next_run("them", NOW + 1 + LEASE, LEASE)  # lapsed
    assert lease_of(recovered) == (waiting.id, 1)


async def test_resume_run_writes_nothing_when_a_change_refuses(store: Store) -> None:
    waiting = await new_run(store, "requires_action")
    answered = step(waiting)
    await store.insert_step(answered)

    def refused(_: RunStep) -> RunStep:
        raise InvalidRequestError("no")

    with pytest.raises(InvalidRequestError):
        await store.resume_run(waiting.id, _queued, (answered.id, refused), Lease("me", NOW + 1))
    assert await store.get_run(waiting.thread_id, waiting.id) == waiting
    assert await store.run_steps(waiting.id) == [answered]
    assert await store.claim_run(waiting.id, "w", NOW, LEASE) is None  # still requires_action
    done = await set_status(store, waiting, "completed")
    with pytest.raises(InvalidRequestError):
        await store.resume_run(waiting.id, _queued, (answered.id, _noted))
    assert await store.get_run(waiting.thread_id, waiting.id) == done
    assert await store.run_steps(waiting.id) == [answered]
    assert await store.resume_run("run_missing", _queued) is None
    assert await store.resume_run("run_\x00", _queued) is None
