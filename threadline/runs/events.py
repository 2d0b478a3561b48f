"""The typed events a run's executor yields; streaming forwards them as SSE."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from threadline.protocol.messages import Message
from threadline.protocol.runs import Run, RunStep

__all__ = ["Event", "message_event", "run_event", "step_event"]


@dataclass(frozen=True)
class Event:
    """One stream event: its SSE name (`thread.run.completed`) and its data object."""

    event: str
    data: BaseModel


def run_event(run: Run, name: str | None = None) -> Event:
    """`thread.run.<status>` for the run's status, or the given suffix (`created`)."""
    return Event(f"thread.run.{name or run.status}", run)


def step_event(step: RunStep, name: str | None = None) -> Event:
    return Event(f"thread.run.step.{name or step.status}", step)


def message_event(message: Message, name: str | None = None) -> Event:
    return Event(f"thread.message.{name or message.status}", message)
