"""The run lifecycle: the transition table, the guard, and what each move writes."""

from __future__ import annotations

import itertools
from typing import Any, get_args

import pytest

from threadline.protocol.runs import LastError, RequiredAction, Run, RunStatus
from threadline.runs import states
from threadline.runs.states import ACTIVE, TERMINAL, TransitionError, can_transition, transition

STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)

ALLOWED: set[tuple[RunStatus, RunStatus]] = {
    ("queued", "in_progress"),
    ("queued", "cancelling"),
    ("queued", "expired"),
    ("queued", "failed"),
    ("in_progress", "requires_action"),
    ("in_progress", "completed"),
    ("in_progress", "failed"),
    ("in_progress", "incomplete"),
    ("in_progress", "cancelling"),
    ("in_progress", "expired"),
    ("requires_action", "queued"),
    ("requires_action", "expired"),
    ("requires_action", "cancelling"),
    ("cancelling", "cancelled"),
    ("cancelling", "completed"),
    ("cancelling", "failed"),
    ("cancelling", "incomplete"),
    ("cancelling", "expired"),
}
FORBIDDEN = sorted(set(itertools.product(STATUSES, STATUSES)) - ALLOWED)

ACTION = RequiredAction.model_validate(
    {
        "submit_tool_outputs": {
            "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{}"}}]
        }
    }
)


def make_run(status: RunStatus = "queued", **fields: Any) -> Run:
    base: dict[str, Any] = {
        "id": "run_1",
        "created_at": 100,
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "status": status,
        "expires_at": 700,
        "model": "fake-model",
        "instructions": "",
        "tools": [],
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    return Run.model_validate(base | fields)


def test_statuses_split_into_active_and_terminal() -> None:
    assert {"queued", "in_progress", "requires_action", "cancelling"} == ACTIVE
    assert {"cancelled", "failed", "completed", "incomplete", "expired"} == TERMINAL
    assert set(STATUSES) == ACTIVE | TERMINAL
    assert not ACTIVE & TERMINAL


def test_the_table_is_exactly_the_documented_one() -> None:
    table = {(src, dst) for src, targets in states.TRANSITIONS.items() for dst in targets}
    assert table == ALLOWED


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_statuses_go_nowhere(status: RunStatus) -> None:
    assert all(not can_transition(status, to) for to in STATUSES)


@pytest.mark.parametrize(("src", "dst"), sorted(ALLOWED))
def test_allowed_moves_pass_the_guard(src: RunStatus, dst: RunStatus) -> None:
    assert can_transition(src, dst)
    moved = transition(make_run(src), dst, 200)
    assert moved.status == dst


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN)
def test_forbidden_moves_raise(src: RunStatus, dst: RunStatus) -> None:
    run = make_run(src)
    assert not can_transition(src, dst)
    with pytest.raises(TransitionError) as caught:
        transition(run, dst, 200)
    assert str(caught.value) == f"run run_1 cannot go from {src} to {dst}"
    assert caught.value.run is run
    assert caught.value.to == dst


def test_a_few_forbidden_moves_by_name() -> None:
    for src, dst in [
        ("queued", "completed"),
        ("queued", "requires_action"),
        ("requires_action", "in_progress"),
        ("requires_action", "completed"),
        ("in_progress", "queued"),
        ("cancelling", "in_progress"),
        ("in_progress", "cancelled"),
        ("completed", "cancelling"),
        ("expired", "queued"),
    ]:
        assert (src, dst) in FORBIDDEN


def test_starting_stamps_started_at() -> None:
    run = transition(make_run("queued"), "in_progress", 150)
    assert run.started_at == 150
    assert run.expires_at == 700


def test_re_entering_in_progress_keeps_the_first_started_at() -> None:
    run = transition(make_run("queued"), "in_progress", 150)
    run = transition(run, "requires_action", 160, required_action=ACTION)
    run = transition(run, "queued", 170)
    run = transition(run, "in_progress", 180)
    assert run.started_at == 150


@pytest.mark.parametrize(
    ("to", "stamp"),
    [("completed", "completed_at"), ("incomplete", "completed_at"), ("failed", "failed_at")],
)
def test_endings_from_in_progress_stamp_their_time(to: RunStatus, stamp: str) -> None:
    started = transition(make_run("queued"), "in_progress", 150)
    ended = transition(started, to, 190)
    assert getattr(ended, stamp) == 190
    assert ended.expires_at is None
    others = {"completed_at", "failed_at", "cancelled_at"} - {stamp}
    assert all(getattr(ended, other) is None for other in others)


def test_cancelling_then_cancelled_stamps_cancelled_at_only_at_the_end() -> None:
    cancelling = transition(make_run("in_progress", started_at=150), "cancelling", 160)
    assert cancelling.cancelled_at is None
    assert cancelling.expires_at == 700
    cancelled = transition(cancelling, "cancelled", 170)
    assert cancelled.cancelled_at == 170
    assert cancelled.started_at == 150
    assert cancelled.expires_at is None


def test_expired_clears_expires_at_and_writes_no_other_stamp() -> None:
    run = make_run("requires_action", started_at=150, required_action=ACTION)
    expired = transition(run, "expired", 800)
    assert expired.expires_at is None
    assert expired.required_action is None
    assert (expired.completed_at, expired.failed_at, expired.cancelled_at) == (None, None, None)


@pytest.mark.parametrize("to", ["queued", "cancelling", "expired"])
def test_leaving_requires_action_clears_the_required_action(to: RunStatus) -> None:
    run = make_run("requires_action", started_at=150, required_action=ACTION)
    assert transition(run, to, 200).required_action is None


def test_entering_requires_action_writes_the_action() -> None:
    run = transition(make_run("in_progress"), "requires_action", 200, required_action=ACTION)
    assert run.required_action == ACTION
    assert run.expires_at == 700


@pytest.mark.parametrize("to", sorted(TERMINAL - {"cancelled"}))
def test_every_terminal_status_nulls_expires_at(to: RunStatus) -> None:
    src: RunStatus = "in_progress" if to != "cancelled" else "cancelling"
    assert transition(make_run(src), to, 200).expires_at is None


def test_changes_are_written_with_the_move_and_the_input_is_untouched() -> None:
    run = make_run("in_progress", started_at=150)
    error = states.failure("server_error", "boom")
    failed = transition(run, "failed", 200, last_error=error)
    assert failed.last_error == LastError(code="server_error", message="boom")
    assert failed.failed_at == 200
    assert run.status == "in_progress"
    assert run.last_error is None
    assert run.expires_at == 700
