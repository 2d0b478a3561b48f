"""The run lifecycle: one enum, one transition table, one guard.

```
queued ──> in_progress ──> completed | failed | incomplete
  │            │  ├──> requires_action ──> queued (tool outputs submitted)
  │            │  │          └──> expired | cancelling
  │            ├──> expired
  └──> cancelling <──┘ ──> cancelled (or the terminal state reached first)
```
Every status change goes through `transition`, which writes the matching timestamp in
the same update; the store applies it atomically with a conditional write.
"""

from __future__ import annotations

from typing import Any

from threadline.protocol.runs import LastError, Run, RunStatus

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "TRANSITIONS",
    "TransitionError",
    "can_transition",
    "transition",
]

ACTIVE: frozenset[RunStatus] = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
TERMINAL: frozenset[RunStatus] = frozenset(
    {"cancelled", "failed", "completed", "incomplete", "expired"}
)

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    "queued": frozenset({"in_progress", "cancelling", "expired", "failed"}),
    "in_progress": frozenset(
        {"requires_action", "completed", "failed", "incomplete", "cancelling", "expired"}
    ),
    "requires_action": frozenset({"queued", "expired", "cancelling"}),
    "cancelling": frozenset({"cancelled", "completed", "failed", "incomplete", "expired"}),
}

# The timestamp each status writes when the run enters it.
_STAMPS: dict[RunStatus, str] = {
    "in_progress": "started_at",
    "completed": "completed_at",
    "incomplete": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
}


class TransitionError(Exception):
    def __init__(self, run: Run, to: RunStatus) -> None:
        super().__init__(f"run {run.id} cannot go from {run.status} to {to}")
        self.run = run
        self.to = to


def can_transition(current: RunStatus, to: RunStatus) -> bool:
    return to in TRANSITIONS.get(current, frozenset())


def transition(run: Run, to: RunStatus, at: int, **changes: Any) -> Run:
    """The run in status `to`, stamped at `at`, with `changes` applied.

    Raises TransitionError when the table does not allow the move."""
    if not can_transition(run.status, to):
        raise TransitionError(run, to)
    update: dict[str, Any] = {"status": to, **changes}
    stamp = _STAMPS.get(to)
    if stamp is not None and not (stamp == "started_at" and run.started_at is not None):
        update[stamp] = at
    if to != "requires_action":
        update.setdefault("required_action", None)
    if to in TERMINAL:
        update["expires_at"] = None
    return run.model_copy(update=update)


def failure(code: str, message: str) -> LastError:
    return LastError.model_validate({"code": code, "message": message})
