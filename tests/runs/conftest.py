"""Shared pieces for run tests: one store, a scripted model, the services and an executor
over them, and the factories that create assistants, threads and runs through the
services the API uses."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from threadline.protocol.assistants import Assistant, CreateAssistantRequest
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message, TextContent
from threadline.protocol.runs import CreateRunRequest, Run, RunStep, SubmitToolOutputsRequest
from threadline.protocol.stream import MessageDelta
from threadline.protocol.threads import CreateThreadRequest, Thread
from threadline.runs.bus import LocalBus
from threadline.runs.events import Event
from threadline.runs.executor import Executor, ExecutorConfig
from threadline.services import Services
from threadline.store.memory import MemoryStore
from threadline.testing import FakeModel

__all__ = ["OWNER", "WEATHER", "Harness", "delta_text", "names", "request", "text_of"]

OWNER = "tests"
M = TypeVar("M", bound=BaseModel)

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def request(kind: type[M], **fields: Any) -> M:
    """A request model parsed from JSON, exactly as the API parses a body."""
    return kind.model_validate_json(json.dumps(fields))


def names(events: Sequence[Event]) -> list[str]:
    return [event.event for event in events]


def delta_text(events: Sequence[Event]) -> str:
    """The text of the message deltas among `events`, joined."""
    pieces = []
    for event in events:
        if event.event == "thread.message.delta":
            assert isinstance(event.data, MessageDelta)
            [part] = event.data.delta["content"]
            assert part["index"] == 0
            pieces.append(part["text"]["value"])
    return "".join(pieces)


def text_of(message: Message) -> str:
    return "".join(part.text.value for part in message.content if isinstance(part, TextContent))


@dataclass
class Harness:
    """A run engine in one object: create runs through the services, drive them by hand."""

    store: MemoryStore = field(default_factory=MemoryStore)
    model: FakeModel = field(default_factory=FakeModel)
    bus: LocalBus = field(default_factory=LocalBus)
    expiry_seconds: int = 600
    config: ExecutorConfig = field(default_factory=ExecutorConfig)

    @cached_property
    def services(self) -> Services:
        return Services.over(self.store, self.bus, self.expiry_seconds)

    @cached_property
    def executor(self) -> Executor:
        return Executor(self.store, self.model, self.bus, config=self.config)

    async def assistant(self, **fields: Any) -> Assistant:
        body = request(CreateAssistantRequest, **({"model": "fake-model"} | fields))
        return await self.services.assistants.create(body)

    async def thread(self, *texts: str) -> Thread:
        messages = [{"role": "user", "content": text} for text in texts]
        body = request(CreateThreadRequest, messages=messages)
        return await self.services.threads.create(body)

    async def run(self, thread_id: str, assistant_id: str, **fields: Any) -> Run:
        body = request(CreateRunRequest, assistant_id=assistant_id, **fields)
        return await self.services.runs.create(thread_id, body)

    async def start(self, *texts: str, assistant: dict[str, Any] | None = None, **run: Any) -> Run:
        """A queued run on a new thread holding `texts` as user messages."""
        created = await self.assistant(**(assistant or {}))
        thread = await self.thread(*(texts or ("Hello",)))
        return await self.run(thread.id, created.id, **run)

    async def drive(self, executor: Executor | None = None) -> list[Event]:
        """Claim the next run, execute it as far as it goes, release it; its events."""
        claim = await self.store.claim_next_run(OWNER, time.time(), 30.0)
        assert claim is not None, "no run to claim"
        try:
            return [event async for event in (executor or self.executor).execute(claim)]
        finally:
            await self.store.release_run(claim.run.id, OWNER)

    async def submit(self, run: Run, outputs: dict[str, str]) -> Run:
        body = request(
            SubmitToolOutputsRequest,
            tool_outputs=[{"tool_call_id": k, "output": v} for k, v in outputs.items()],
        )
        return await self.services.runs.submit_tool_outputs(run.thread_id, run.id, body)

    async def get(self, run: Run) -> Run:
        current = await self.store.get_run(run.thread_id, run.id)
        assert current is not None
        return current

    async def steps(self, run: Run) -> list[RunStep]:
        return await self.store.run_steps(run.id)

    async def messages(self, run: Run) -> list[Message]:
        """The thread's messages, oldest first."""
        page = await self.store.list_messages(run.thread_id, ListQuery(limit=100, order="asc"))
        return page.data

    async def reply(self, run: Run) -> Message:
        """The run's only message."""
        page = await self.store.list_messages(run.thread_id, ListQuery(limit=100), run_id=run.id)
        assert len(page.data) == 1, page.data
        return page.data[0]


@pytest.fixture
def harness() -> Harness:
    return Harness()
