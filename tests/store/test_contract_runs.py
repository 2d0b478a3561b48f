"""The store contract for runs: the thread lock, updates, and the queue with its leases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from threadline.errors import InvalidRequestError
from threadline.ids import new_id
from threadline.protocol.common import ListQuery
from threadline.protocol.runs import (
    LastError,
    RequiredAction,
    Run,
    RunStatus,
    TruncationStrategy,
    Usage,
)
from threadline.protocol.tools import FunctionDefinition, FunctionTool
from threadline.runs.states import ACTIVE, TERMINAL
from threadline.store import Store
from threadline.store.base import Claim, ThreadBusyError

from .test_contract import NOW, message, thread

LEASE = 30.0


def run(thread_id: str, status: RunStatus = "queued", **changes: Any) -> Run:
    fields: dict[str, Any] = {
        "id": new_id("run"),
        "created_at": NOW,
        "thread_id": thread_id,
        "assistant_id": "asst_1",
        "status": status,
        "expires_at": NOW + 600,
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "tools": [],
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": TruncationStrategy(type="auto"),
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    return Run(**(fields | changes))


async def new_run(
    store: Store, status: RunStatus = "queued", thread_id: str | None = None, **changes: Any
) -> Run:
    """A run, moved to `status`, in the thread given or else in a new one of its own."""
    created = run(thread_id or new_id("thread"), **changes)
    new_thread = None if thread_id else thread(id=created.thread_id)
    assert await store.insert_run(created, thread=new_thread)
    return await set_status(store, created, status) if status != "queued" else created


async def set_status(store: Store, current: Run, status: RunStatus) -> Run:
    changed = await store.update_run(current.id, lambda r: r.model_copy(update={"status": status}))
    assert changed is not None
    return changed


def lease_of(claim: Claim | None) -> tuple[str, int] | None:
    """The claimed run's id and its recoveries."""
    return None if claim is None else (claim.run.id, claim.recoveries)


# Runs


async def test_run_round_trips_exactly(store: Store) -> None:
    rich = run(
        new_id("thread"),
        "requires_action",
        usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        required_action=RequiredAction.model_validate(
            {
                "submit_tool_outputs": {
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "f", "arguments": '{"a": "ü"}'}}
                    ]
                }
            }
        ),
        last_error=LastError(code="server_error", message="boom"),
        tools=[FunctionTool(type="function", function=FunctionDefinition(name="f"))],
        metadata={"k": 'v "quoted"'},
        started_at=NOW + 1,
        max_completion_tokens=512,
        truncation_strategy=TruncationStrategy(type="last_messages", last_messages=3),
    )
    assert await store.insert_run(rich, thread=thread(id=rich.thread_id)) is True
    assert await store.get_run(rich.thread_id, rich.id) == rich
    assert await store.get_run("thread_other", rich.id) is None
    assert await store.get_run(rich.thread_id, "run_missing") is None


async def test_insert_run_with_thread_and_messages(store: Store) -> None:
    t = thread()
    first, second = message(t.id, "one"), message(t.id, "two")
    created = run(t.id)
    assert await store.insert_run(created, [first, second], t) is True
    assert await store.get_thread(t.id) == t
    assert (await store.list_messages(t.id, ListQuery(order="asc"))).data == [first, second]
    assert (await store.list_runs(t.id, ListQuery())).data == [created]


async def test_insert_run_into_missing_thread(store: Store) -> None:
    orphan = run("thread_missing")
    assert await store.insert_run(orphan, [message("thread_missing")]) is False
    assert await store.get_run("thread_missing", orphan.id) is None
    assert await store.get_thread("thread_missing") is None


async def test_list_runs_pages_within_the_thread(store: Store) -> None:
    t, other = thread(), thread()
    await store.insert_thread(t)
    await store.insert_thread(other)
    ids = []
    for _ in range(5):
        done = run(t.id, "completed")
        assert await store.insert_run(done)
        ids.append(done.id)
    foreign = run(other.id)
    await store.insert_run(foreign)
    page = await store.list_runs(t.id, ListQuery(limit=2))
    assert ([r.id for r in page.data], page.has_more) == (ids[:-3:-1], True)
    page = await store.list_runs(t.id, ListQuery(order="asc", after=ids[1], limit=10))
    assert ([r.id for r in page.data], page.has_more) == (ids[2:], False)
    page = await store.list_runs(t.id, ListQuery(order="asc", before=ids[3], limit=2))
    assert ([r.id for r in page.data], page.has_more) == (ids[1:3], True)
    with pytest.raises(InvalidRequestError):
        await store.list_runs(t.id, ListQuery(after=foreign.id))
    assert (await store.list_runs("thread_\x00", ListQuery())).data == []


async def test_update_run(store: Store) -> None:
    queued = await new_run(store)
    changed = await store.update_run(
        queued.id, lambda r: r.model_copy(update={"status": "in_progress", "started_at": NOW})
    )
    assert changed == queued.model_copy(update={"status": "in_progress", "started_at": NOW})
    assert await store.get_run(queued.thread_id, queued.id) == changed


async def test_update_missing_run(store: Store) -> None:
    def never(r: Run) -> Run:
        raise AssertionError("called")

    assert await store.update_run("run_missing", never) is None
    assert await store.update_run("run_\x00", never) is None


async def test_update_run_rolls_back_on_exception(store: Store) -> None:
    queued = await new_run(store)
    failure = RuntimeError("refused")

    def refuse(r: Run) -> Run:
        raise failure

    with pytest.raises(RuntimeError) as caught:
        await store.update_run(queued.id, refuse)
    assert caught.value is failure
    assert await store.get_run(queued.thread_id, queued.id) == queued


# The thread lock


@pytest.mark.parametrize("status", sorted(ACTIVE))
async def test_an_active_run_locks_the_thread(store: Store, status: RunStatus) -> None:
    active = await new_run(store, status)
    extra = message(active.thread_id)
    with pytest.raises(ThreadBusyError) as caught:
        await store.insert_run(run(active.thread_id), [extra])
    assert (caught.value.thread_id, caught.value.run_id) == (active.thread_id, active.id)
    assert await store.get_message(active.thread_id, extra.id) is None
    assert len((await store.list_runs(active.thread_id, ListQuery())).data) == 1


@pytest.mark.parametrize("status", sorted(TERMINAL))
async def test_a_finished_run_frees_the_thread(store: Store, status: RunStatus) -> None:
    finished = await new_run(store, status)
    assert await store.insert_message(message(finished.thread_id)) is True
    assert await store.insert_run(run(finished.thread_id)) is True


async def test_messages_from_outside_the_run_wait_for_it(store: Store) -> None:
    active = await new_run(store, "in_progress")
    with pytest.raises(ThreadBusyError) as caught:
        await store.insert_message(message(active.thread_id))
    assert caught.value.run_id == active.id
    own = message(active.thread_id, role="assistant", run_id=active.id)
    assert await store.insert_message(own) is True
    assert (await store.list_messages(active.thread_id, ListQuery())).data == [own]
    assert await store.insert_message(message("thread_missing")) is False


async def test_concurrent_runs_on_one_thread(store: Store) -> None:
    t = thread()
    await store.insert_thread(t)
    results = await asyncio.gather(
        *(store.insert_run(run(t.id)) for _ in range(20)), return_exceptions=True
    )
    assert results.count(True) == 1
    winner = (await store.list_runs(t.id, ListQuery())).data
    assert len(winner) == 1
    busy = [r for r in results if r is not True]
    assert all(isinstance(r, ThreadBusyError) and r.run_id == winner[0].id for r in busy)


# Claims and leases


async def test_claims_take_the_oldest_run_first(store: Store) -> None:
    runs = [await new_run(store) for _ in range(3)]
    claims = [await store.claim_next_run("w", NOW, LEASE) for _ in range(4)]
    assert [c.run if c else None for c in claims] == [*runs, None]
    assert all(c.recoveries == 0 and not c.recovered for c in claims if c)


async def test_concurrent_owners_never_share_a_run(store: Store) -> None:
    runs = {(await new_run(store)).id for _ in range(10)}
    claims = await asyncio.gather(*(store.claim_next_run(f"w{i}", NOW, LEASE) for i in range(20)))
    claimed = [c.run.id for c in claims if c is not None]
    assert sorted(claimed) == sorted(runs)


async def test_a_lapsed_lease_is_claimed_again(store: Store) -> None:
    started = await new_run(store)
    assert await store.claim_next_run("w1", NOW, LEASE)
    started = await set_status(store, started, "in_progress")
    assert await store.claim_next_run("w2", NOW + LEASE - 1, LEASE) is None
    again = await store.claim_next_run("w2", NOW + LEASE, LEASE)
    assert again is not None
    assert (again.run, again.recoveries, again.recovered) == (started, 1, True)
    third = await store.claim_next_run("w3", NOW + 2 * LEASE, LEASE)
    assert lease_of(third) == (started.id, 2)


async def test_a_queued_run_with_a_lapsed_lease_is_no_recovery(store: Store) -> None:
    queued = await new_run(store)
    assert await store.claim_next_run("w1", NOW, LEASE)
    claim = await store.claim_next_run("w2", NOW + LEASE, LEASE)
    assert lease_of(claim) == (queued.id, 0)


@pytest.mark.parametrize(
    ("status", "claimable"),
    [("cancelling", True), ("requires_action", False), *((s, False) for s in sorted(TERMINAL))],
)
async def test_which_runs_are_claimable(store: Store, status: RunStatus, claimable: bool) -> None:
    current = await new_run(store, status)
    claim = await store.claim_next_run("w", NOW, LEASE)
    assert (claim.run if claim else None) == (current if claimable else None)
    if claimable:
        assert await store.claim_run(current.id, "w2", NOW, LEASE) is None  # held by w


async def test_an_unleased_in_progress_run_is_a_recovery(store: Store) -> None:
    current = await new_run(store, "in_progress")
    claim = await store.claim_next_run("w", NOW, LEASE)
    assert lease_of(claim) == (current.id, 1)
    assert claim is not None
    assert claim.run == current


async def test_claim_one_run(store: Store) -> None:
    older, wanted = await new_run(store), await new_run(store)
    claim = await store.claim_run(wanted.id, "w1", NOW, LEASE)
    assert lease_of(claim) == (wanted.id, 0)
    assert await store.claim_run(wanted.id, "w2", NOW + 1, LEASE) is None
    assert await store.claim_run("run_missing", "w2", NOW, LEASE) is None
    assert await store.claim_run("run_\x00", "w2", NOW, LEASE) is None
    await set_status(store, wanted, "in_progress")
    recovered = await store.claim_run(wanted.id, "w2", NOW + LEASE, LEASE)
    assert lease_of(recovered) == (wanted.id, 1)
    claim = await store.claim_next_run("w3", NOW + LEASE, LEASE)
    assert lease_of(claim) == (older.id, 0)


async def test_renew_and_release(store: Store) -> None:
    mine, theirs = await new_run(store), await new_run(store)
    assert await store.claim_run(mine.id, "me", NOW, LEASE)
    assert await store.claim_run(theirs.id, "them", NOW, LEASE)
    ids = [mine.id, theirs.id, "run_missing", "run_\x00"]
    assert await store.renew_leases("me", ids, NOW + LEASE - 1, LEASE) == {mine.id}
    assert await store.renew_leases("me", [], NOW, LEASE) == set()
    assert await store.claim_run(mine.id, "them", NOW + LEASE, LEASE) is None  # renewed
    assert await store.claim_run(theirs.id, "me", NOW + LEASE, LEASE) is not None  # lapsed
    assert await store.renew_leases("them", [theirs.id], NOW + LEASE, LEASE) == set()
    await store.release_run(mine.id, "them")  # not theirs: no effect
    assert await store.claim_run(mine.id, "them", NOW + LEASE, LEASE) is None
    await store.release_run(mine.id, "me")
    claim = await store.claim_run(mine.id, "them", NOW + LEASE, LEASE)
    assert lease_of(claim) == (mine.id, 0)


async def test_update_run_keeps_the_lease(store: Store) -> None:
    queued = await new_run(store)
    assert await store.claim_next_run("w", NOW, LEASE)
    await set_status(store, queued, "in_progress")
    await set_status(store, queued, "cancelling")
    assert await store.claim_next_run("w2", NOW + 1, LEASE) is None
    assert await store.renew_leases("w", [queued.id], NOW + 1, LEASE) == {queued.id}


async def test_update_run_may_let_the_lease_go(store: Store) -> None:
    """As a run's executor parks it in requires_action: the same write frees the run for
    whichever worker must finish it (a cancel)."""
    held = await new_run(store)
    assert await store.claim_next_run("w", NOW, LEASE)

    def waiting(r: Run) -> Run:
        return r.model_copy(update={"status": "requires_action"})

    assert await store.update_run(held.id, waiting, release=True)
    await set_status(store, held, "cancelling")
    assert lease_of(await store.claim_next_run("w2", NOW + 1, LEASE)) == (held.id, 0)
    assert await store.renew_leases("w", [held.id], NOW + 1, LEASE) == set()


async def test_runs_to_expire(store: Store) -> None:
    due = [await new_run(store, s, expires_at=NOW) for s in ("in_progress", "queued")]
    due.append(await new_run(store, "requires_action", expires_at=NOW - 5))
    await new_run(store, "completed", expires_at=NOW - 5)
    await new_run(store, "queued", expires_at=NOW + 1)
    await new_run(store, "cancelling", expires_at=None)
    assert await store.runs_to_expire(NOW, 10) == due
    assert await store.runs_to_expire(NOW, 2) == due[:2]
    await set_status(store, due[0], "expired")
    assert await store.runs_to_expire(NOW, 10) == due[1:]
