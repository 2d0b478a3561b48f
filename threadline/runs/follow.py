"""Following a run that another process executes, through the store.

Used when a streaming request cannot execute its run itself. It reports what the store
shows as it changes: run statuses, steps, and each message whole when it completes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.runs import Run
from threadline.protocol.stream import MessageDelta
from threadline.runs.bus import Bus
from threadline.runs.events import Event, message_event, run_event, step_event
from threadline.runs.states import TERMINAL
from threadline.store.base import Store

__all__ = ["follow"]

POLL_SECONDS = 0.2


@dataclass
class _Seen:
    run_status: str
    steps: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)


async def follow(
    store: Store, bus: Bus, run: Run, sink: Callable[[Event], None], poll: float = POLL_SECONDS
) -> None:
    """Report the run's changes to `sink` until it ends or needs the client."""
    seen = _Seen(run.status)
    while True:
        expected = bus.expect_update(run.id)  # taken before the read: no update is missed
        current = await store.get_run(run.thread_id, run.id)
        if current is None:
            return
        await _report_steps(store, current, seen, sink)
        await _report_messages(store, current, seen, sink)
        if current.status != seen.run_status:
            seen.run_status = current.status
            sink(run_event(current))
        if current.status in TERMINAL or current.status == "requires_action":
            return
        await bus.wait_for_update(run.id, poll, expected)


async def _report_steps(store: Store, run: Run, seen: _Seen, sink: Callable[[Event], None]) -> None:
    for step in await store.run_steps(run.id):
        before = seen.steps.get(step.id)
        if before == step.status:
            continue
        if before is None:
            sink(step_event(step, "created"))
            sink(step_event(step, "in_progress"))
        if step.status != "in_progress":
            sink(step_event(step))
        seen.steps[step.id] = step.status


async def _report_messages(
    store: Store, run: Run, seen: _Seen, sink: Callable[[Event], None]
) -> None:
    page = await store.list_messages(run.thread_id, ListQuery(limit=100, order="asc"), run.id)
    for message in page.data:
        before = seen.messages.get(message.id)
        if before == message.status:
            continue
        if before is None:
            sink(message_event(message, "created"))
            sink(message_event(message, "in_progress"))
        if message.status != "in_progress":
            _whole_text(message, sink)
            sink(message_event(message))
        seen.messages[message.id] = message.status


def _whole_text(message: Message, sink: Callable[[Event], None]) -> None:
    for index, part in enumerate(message.content):
        if part.type == "text":
            sink(
                Event("thread.message.delta", MessageDelta.text(message.id, part.text.value, index))
            )
