"""Runs: created from an assistant and overrides, steered by cancel and tool outputs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeVar

from threadline.errors import InvalidRequestError, NotFoundError
from threadline.ids import new_id, now
from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListPage, ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    Run,
    SubmitToolOutputsRequest,
    TruncationStrategy,
)
from threadline.protocol.threads import Thread
from threadline.protocol.tools import ToolResources
from threadline.routing import ModelCatalog, OpenCatalog
from threadline.runs import states
from threadline.runs.bus import Bus
from threadline.services.attached_files import AttachedFiles
from threadline.services.messages import build_message
from threadline.services.resources import list_page
from threadline.services.tool_outputs import apply_outputs, check_outputs, pending_step
from threadline.store.base import Lease, Store, ThreadBusyError

__all__ = ["RunService"]

_Overrides = CreateRunRequest | CreateThreadAndRunRequest
T = TypeVar("T")


def thread_busy(error: ThreadBusyError) -> InvalidRequestError:
    return InvalidRequestError(
        f"Thread {error.thread_id} already has an active run {error.run_id}."
    )


# Statuses a run leaves on its own, without the client doing anything.
_MOVING = frozenset({"queued", "in_progress", "cancelling"})


class RunService:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        expiry_seconds: int,
        poll_interval: float | None = None,
        *,
        attached: AttachedFiles,
        models: ModelCatalog | None = None,
    ) -> None:
        self.store = store
        self.models = models if models is not None else OpenCatalog()
        self.attached = attached
        self.bus = bus
        self.expiry_seconds = expiry_seconds
        # Set when other processes may change runs without this process hearing of it.
        self.poll_interval = poll_interval

    async def _assistant(self, assistant_id: str) -> Assistant:
        assistant = await self.store.get_assistant(assistant_id)
        if assistant is None:
            raise NotFoundError.for_object("assistant", assistant_id)
        return assistant

    def _new_run(self, thread_id: str, assistant: Assistant, request: _Overrides) -> Run:
        model = request.model or assistant.model
        self.models.check(model)
        created_at = now()
        instructions = request.instructions
        if instructions is None:
            instructions = assistant.instructions or ""
        extra = getattr(request, "additional_instructions", None)
        if extra:
            instructions = f"{instructions}\n\n{extra}" if instructions else extra
        return Run(
            id=new_id("run"),
            created_at=created_at,
            thread_id=thread_id,
            assistant_id=assistant.id,
            status="queued",
            expires_at=created_at + self.expiry_seconds,
            model=model,
            instructions=instructions,
            tools=request.tools if request.tools is not None else assistant.tools,
            metadata=request.metadata if request.metadata is not None else {},
            temperature=_first(request.temperature, assistant.temperature, 1.0),
            top_p=_first(request.top_p, assistant.top_p, 1.0),
            max_prompt_tokens=request.max_prompt_tokens,
            max_completion_tokens=request.max_completion_tokens,
            truncation_strategy=request.truncation_strategy or TruncationStrategy(type="auto"),
            tool_choice=request.tool_choice or "auto",
            parallel_tool_calls=_first(request.parallel_tool_calls, True),
            response_format=request.response_format or assistant.response_format or "auto",
        )

    async def _insert(
        self,
        run: Run,
        messages: Sequence[Message] = (),
        thread: Thread | None = None,
        lease: Lease | None = None,
    ) -> Run:
        """Store the run and tell the workers; or, with `lease`, store it already in
        progress and claimed by the process that streams it and executes it itself (the
        run returned is then in progress)."""
        if lease is not None:
            run = states.transition(run, "in_progress", now())
        try:
            inserted = await self.store.insert_run(run, messages, thread, lease)
        except ThreadBusyError as error:
            raise thread_busy(error) from None
        if not inserted:
            raise NotFoundError.for_object("thread", run.thread_id)
        if lease is None:
            self.bus.work_available()
        return run

    async def create(
        self, thread_id: str, request: CreateRunRequest, lease: Lease | None = None
    ) -> Run:
        assistant = await self._assistant(request.assistant_id)
        additional = request.additional_messages or []
        await self.attached.check(additional)
        run = self._new_run(thread_id, assistant, request)  # a missing thread: see _insert
        messages = [build_message(thread_id, m, run.created_at) for m in additional]
        run = await self._insert(run, messages, lease=lease)
        await self.attached.into_thread(thread_id, additional)
        return run

    async def create_thread_and_run(
        self, request: CreateThreadAndRunRequest, lease: Lease | None = None
    ) -> tuple[Run, list[Message]]:
        """The run, and its new thread's messages: the thread's whole history, which its
        executor then need not read back."""
        assistant = await self._assistant(request.assistant_id)
        self.models.check(request.model or assistant.model)  # before the thread is written
        resources = None
        if request.tool_resources is not None:
            resources = ToolResources.model_validate(
                request.tool_resources.model_dump(exclude_none=True)
            )
        thread = await self.attached.new_thread(request.thread, resources)
        messages = [
            build_message(thread.id, m, thread.created_at)
            for m in (request.thread.messages or [] if request.thread else [])
        ]
        run = self._new_run(thread.id, assistant, request)
        return await self._insert(run, messages, thread, lease), messages

    async def get(self, thread_id: str, run_id: str) -> Run:
        run = await self.store.get_run(thread_id, run_id)
        if run is None:
            if await self.store.get_thread(thread_id) is None:
                raise NotFoundError.for_object("thread", thread_id)
            raise NotFoundError.for_object("run", run_id)
        return run

    async def wait(self, thread_id: str, run_id: str, seconds: float) -> Run:
        """The run once it needs the client or has ended, or as it is after `seconds`:
        a long poll for the SDK's poll helper, so `create_and_poll` returns as soon as
        the run is done instead of a poll interval later."""
        # Expected before each read: an update that lands between the read and the wait
        # wakes the wait at once instead of being missed until the poll times out.
        expected = self.bus.expect_update(run_id)
        run = await self.get(thread_id, run_id)
        deadline = time.monotonic() + seconds
        while run.status in _MOVING:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = min(left, self.poll_interval or left)
            told = await self.bus.wait_for_update(run_id, wait, expected)
            expected = self.bus.expect_update(run_id)
            # The run as its writer told it, in this process: as fresh as a read, since
            # any later update sets `expected`.
            run = told if told is not None else await self.get(thread_id, run_id)
        return run

    async def list(self, thread_id: str, query: ListQuery) -> ListPage[Run]:
        if await self.store.get_thread(thread_id) is None:
            raise NotFoundError.for_object("thread", thread_id)
        return list_page(await self.store.list_runs(thread_id, query))

    async def modify(self, thread_id: str, run_id: str, request: ModifyRunRequest) -> Run:
        run = await self.get(thread_id, run_id)
        if "metadata" not in request.model_fields_set:
            return run
        metadata = request.metadata if request.metadata is not None else {}
        updated = await self.store.update_run(
            run_id, lambda r: r.model_copy(update={"metadata": metadata})
        )
        return updated or run

    async def cancel(self, thread_id: str, run_id: str) -> Run:
        await self.get(thread_id, run_id)

        def to_cancelling(run: Run) -> Run:
            if not states.can_transition(run.status, "cancelling"):
                raise InvalidRequestError(f"Cannot cancel run with status '{run.status}'.")
            return states.transition(run, "cancelling", now())

        cancelled = await self.store.update_run(run_id, to_cancelling)
        if cancelled is None:
            raise NotFoundError.for_object("run", run_id)
        self.bus.run_changed(run_id)
        self.bus.run_updated(run_id, cancelled)
        return cancelled

    async def submit_tool_outputs(
        self,
        thread_id: str,
        run_id: str,
        request: SubmitToolOutputsRequest,
        lease: Lease | None = None,
    ) -> Run:
        """The outputs in their step and the run back in the queue, in one write; or, with
        `lease`, the run stored already in progress and claimed by the process that took
        the outputs, which executes it itself (the run returned is then in progress)."""
        run = await self.get(thread_id, run_id)
        call_ids = check_outputs(run, request.tool_outputs)
        step = pending_step(await self.store.run_steps(run_id), call_ids)
        outputs = {o.tool_call_id or "": o.output or "" for o in request.tool_outputs}

        def requeue(current: Run) -> Run:
            check_outputs(current, request.tool_outputs)
            queued = states.transition(current, "queued", now())
            return queued if lease is None else states.transition(queued, "in_progress", now())

        answered = None if step is None else (step.id, lambda s: apply_outputs(s, outputs))
        resumed = await self.store.resume_run(run_id, requeue, answered, lease)
        if resumed is None:
            raise NotFoundError.for_object("run", run_id)
        if lease is None and not request.stream:  # a stream's run is claimed by its caller
            self.bus.work_available()
        self.bus.run_updated(run_id, resumed)
        return resumed


def _first(*values: T | None) -> T:
    for value in values:
        if value is not None:
            return value
    raise ValueError("no value")
