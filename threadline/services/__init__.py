"""The rules of each resource, over a `Store`."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.runs.bus import Bus
from threadline.services.assistants import AssistantService
from threadline.services.messages import MessageService
from threadline.services.runs import RunService
from threadline.services.steps import StepService
from threadline.services.threads import ThreadService
from threadline.store.base import Store

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService
    steps: StepService

    @classmethod
    def over(
        cls,
        store: Store,
        bus: Bus,
        run_expiry_seconds: int,
        poll_interval: float | None = None,
    ) -> Services:
        return cls(
            AssistantService(store),
            ThreadService(store),
            MessageService(store),
            RunService(store, bus, run_expiry_seconds, poll_interval),
            StepService(store),
        )
