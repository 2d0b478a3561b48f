"""Ending a run: one guarded transition, then its open steps and messages closed to match."""

from __future__ import annotations

from typing import Any, Literal

from threadline.ids import now
from threadline.protocol.messages import IncompleteDetails, Message
from threadline.protocol.runs import LastError, RunStatus, RunStep, StepError, StepStatus
from threadline.runs import states
from threadline.runs.events import Event, message_event, run_event, step_event
from threadline.store.base import Store

__all__ = ["close_message", "end_run"]

_STEP_STATUS: dict[RunStatus, StepStatus] = {
    "cancelled": "cancelled",
    "failed": "failed",
    "expired": "expired",
    "incomplete": "completed",
    "completed": "completed",
}
_STEP_STAMP: dict[StepStatus, str] = {
    "cancelled": "cancelled_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "completed": "completed_at",
}
MessageReason = Literal[
    "content_filter", "max_tokens", "run_cancelled", "run_expired", "run_failed"
]
_MESSAGE_REASON: dict[RunStatus, MessageReason] = {
    "cancelled": "run_cancelled",
    "failed": "run_failed",
    "expired": "run_expired",
    "incomplete": "max_tokens",
}


def close_message(message: Message, reason: MessageReason | None, at: int) -> Message:
    """The message completed (reason None) or incomplete for `reason`."""
    if reason is None:
        return message.model_copy(update={"status": "completed", "completed_at": at})
    details = IncompleteDetails(reason=reason)
    return message.model_copy(
        update={"status": "incomplete", "incomplete_at": at, "incomplete_details": details}
    )


def _close_step(step: RunStep, status: StepStatus, at: int, error: LastError | None) -> RunStep:
    update: dict[str, Any] = {"status": status, _STEP_STAMP[status]: at}
    if status == "failed" and error is not None:
        code = error.code if error.code == "rate_limit_exceeded" else "server_error"
        update["last_error"] = StepError(code=code, message=error.message)
    return step.model_copy(update=update)


async def end_run(store: Store, run_id: str, to: RunStatus, **changes: Any) -> list[Event]:
    """Move the run to the terminal status `to` and close what it left open, atomically.

    Returns the events to publish; none when the run had already ended (another process
    or the sweeper got there first)."""
    at = now()
    status = _STEP_STATUS[to]
    reason = _MESSAGE_REASON.get(to)
    error = changes.get("last_error")
    try:
        ending = await store.end_run(
            run_id,
            lambda r: states.transition(r, to, at, **changes),
            lambda s: _close_step(s, status, at, error),
            lambda m: close_message(m, reason, at),
        )
    except states.TransitionError:
        return []
    if ending is None:
        return []
    events = [step_event(step) for step in ending.steps]
    events += [message_event(message) for message in ending.messages]
    events.append(run_event(ending.run))
    return events
