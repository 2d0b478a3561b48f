"""The run executor: an async generator of events that persists as it goes.

A blocking request drains it through a worker; a streaming request forwards its events.
Every status change goes through `states.transition` inside `store.update_run`, so a run
that was cancelled or expired meanwhile stops the executor at its next write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from threadline.ids import now
from threadline.inference import ModelClient, ModelError
from threadline.protocol.messages import Message
from threadline.protocol.runs import (
    CodeInterpreterToolCall,
    FileSearchToolCall,
    FunctionCallSpec,
    IncompleteDetails,
    LastError,
    RequiredAction,
    RequiredToolCall,
    Run,
    RunStatus,
    RunStep,
    StepToolCall,
    SubmitToolOutputsAction,
    ToolCallsDetails,
    Usage,
)
from threadline.protocol.stream import RunStepDelta
from threadline.runs import states
from threadline.runs.bus import Bus
from threadline.runs.closing import close_message, end_run
from threadline.runs.events import Event, message_event, run_event, step_event
from threadline.runs.prompt import BlockCache, PromptTooLarge, build_prompt
from threadline.runs.turn import PendingCall, Turn
from threadline.store.base import Claim, Store
from threadline.tools.builtin import BuiltinTools, outputs_delta, started_delta

__all__ = ["Executor", "ExecutorConfig"]

logger = logging.getLogger("threadline.runs")

NO_MODEL = (
    "No model endpoint is configured: set THREADLINE_MODEL_BASE_URL to an "
    "OpenAI-compatible endpoint (base URL ending in /v1)."
)


@dataclass(frozen=True)
class ExecutorConfig:
    max_model_calls: int = 16
    max_recoveries: int = 3


@dataclass
class Executor:
    store: Store
    model: ModelClient | None
    bus: Bus
    tools: BuiltinTools = field(default_factory=BuiltinTools)
    config: ExecutorConfig = field(default_factory=ExecutorConfig)
    rendered: BlockCache = field(default_factory=BlockCache)

    async def execute(self, claim: Claim, watched: bool = True) -> AsyncIterator[Event]:
        """Drive the claimed run as far as it can go (an end, or requires_action).
        `watched`: a client streams the events (else the model's answers may come whole)."""
        run = claim.run
        try:
            async for event in self._start(claim, watched):
                yield event
        except ModelError as error:
            async for event in self._fail(run.id, error.code, error.message):
                yield event
        except Exception:
            logger.exception("run %s failed on an internal error", run.id)
            message = "The server had an error while processing the run."
            async for event in self._fail(run.id, "server_error", message):
                yield event
        finally:
            self.bus.forget(run.id)

    async def _start(self, claim: Claim, watched: bool) -> AsyncIterator[Event]:
        run = claim.run
        if run.status == "cancelling":
            for event in await end_run(self.store, run.id, "cancelled"):
                yield event
            return
        if claim.recovered:
            if claim.recoveries > self.config.max_recoveries:
                message = f"The run was interrupted {claim.recoveries} times and was stopped."
                raise ModelError("server_error", message)
            await self._discard_partial(run)
        if self.model is None:
            raise ModelError("server_error", NO_MODEL)
        # A run never started has no steps yet: nothing to read back before the first call.
        fresh = claim.born or (run.status == "queued" and run.started_at is None)
        history: list[Message | RunStep] | None = None
        if claim.history is not None:
            history = list(claim.history)
        if claim.born or claim.resumed:  # stored in progress by the one who leased it
            yield run_event(run)
        elif run.status == "queued":
            # The thread is read while the status is written: both precede the model call.
            started, history = await asyncio.gather(
                self._move(run.id, "in_progress"), self.store.thread_history(run.thread_id)
            )
            if started is None:
                return
            run = started
            yield run_event(run)
        async for event in self._loop(run, self.model, fresh, history, watched):
            yield event

    async def _move(self, run_id: str, to: RunStatus, **changes: object) -> Run | None:
        """The run moved to `to`; waiting for its tool outputs, it lets its lease go in
        the same write (its executor stops there)."""
        try:
            return await self.store.update_run(
                run_id,
                lambda r: states.transition(r, to, now(), **changes),
                release=to == "requires_action",
            )
        except states.TransitionError as error:
            logger.info("run %s: %s", run_id, error)
            return None

    async def _fail(self, run_id: str, code: str, message: str) -> AsyncIterator[Event]:
        error = LastError.model_validate({"code": code, "message": message})
        for event in await end_run(self.store, run_id, "failed", last_error=error):
            yield event

    async def _discard_partial(self, run: Run) -> None:
        """Drop what a dead executor left half-written; completed steps stay."""
        for step in await self.store.run_steps(run.id):
            if step.status != "in_progress" or _awaits_outputs(step):
                continue
            details = step.step_details
            if details.type == "message_creation":
                await self.store.delete_message(run.thread_id, details.message_creation.message_id)
            await self.store.delete_step(step.id)

    async def _loop(
        self,
        run: Run,
        model: ModelClient,
        fresh: bool,
        history: list[Message | RunStep] | None,
        watched: bool,
    ) -> AsyncIterator[Event]:
        steps = [] if fresh else await self.store.run_steps(run.id)
        async for event in self._complete_answered_steps(steps):
            yield event
        # Each earlier model call that let the run go on left one tool_calls step: the bound
        # holds over the whole run, rounds of submitted tool outputs included.
        made = sum(1 for step in steps if step.type == "tool_calls")
        first_call, current = not steps, run
        for _ in range(self.config.max_model_calls - made):
            if not (first_call and fresh):
                checked = await self._check(run)
                if checked is None:
                    async for event in self._stop(run):
                        yield event
                    return
                current = checked
            flow = _Flow()
            async for event in self._turn(current, model, flow, first_call, history, watched):
                yield event
            if not flow.again:
                return
            first_call, history = False, None
        message = f"The run made {self.config.max_model_calls} model calls without finishing."
        raise ModelError("server_error", message)

    async def _complete_answered_steps(self, steps: list[RunStep]) -> AsyncIterator[Event]:
        """Complete the tool_calls step whose outputs were submitted."""
        at = now()
        for step in steps:
            if step.status == "in_progress" and step.step_details.type == "tool_calls":
                done = await self.store.update_step(step.id, partial(_completed, at=at))
                if done is not None:
                    yield step_event(done)

    async def _check(self, run: Run) -> Run | None:
        """The run if it should go on working, None if it was stopped from outside."""
        current = await self.store.get_run(run.thread_id, run.id)
        return current if current is not None and current.status == "in_progress" else None

    async def _stop(self, run: Run) -> AsyncIterator[Event]:
        """Finish a run that was stopped from outside: cancelling becomes cancelled."""
        current = await self.store.get_run(run.thread_id, run.id)
        if current is not None and current.status == "cancelling":
            for event in await end_run(self.store, run.id, "cancelled"):
                yield event

    async def _turn(
        self,
        run: Run,
        model: ModelClient,
        flow: _Flow,
        first_call: bool,
        history: list[Message | RunStep] | None,
        watched: bool,
    ) -> AsyncIterator[Event]:
        used = run.usage or Usage()
        budget = _Budget(run, used)
        if budget.exhausted is not None:
            async for event in self._incomplete(run.id, budget.exhausted):
                yield event
            return
        if history is None:
            history = await self.store.thread_history(run.thread_id)
        try:
            prompt = build_prompt(
                run,
                history,
                first_call=first_call,
                prompt_budget=budget.prompt,
                completion_budget=budget.completion,
                cache=self.rendered,
            )
        except PromptTooLarge:
            async for event in self._incomplete(run.id, "max_prompt_tokens"):
                yield event
            return
        if budget.prompt is not None and prompt.estimated_tokens > budget.prompt:
            async for event in self._incomplete(run.id, "max_prompt_tokens"):
                yield event
            return
        request = prompt.request if watched else replace(prompt.request, stream=False)
        turn = Turn(self.store, model, run, request, code_files=self.tools.output_files)
        unwatch = self.bus.watch(run.id, turn.interrupt)
        try:
            async for event in turn.events():
                yield event
        finally:
            unwatch()
        if turn.stopped:
            async for event in self._stop(run):
                yield event
            return
        # The prompt's tokens are counted only when the upstream reported no usage.
        usage = (
            turn.usage if turn.usage is not None else turn.estimated_usage(prompt.estimated_tokens)
        )
        total = used + usage
        if not turn.calls and not _cut_short(turn, usage, budget):
            completed = await self._complete(run, turn, usage, total)
            if completed is not None:
                for event in completed:
                    yield event
                return
        await self.store.update_run(run.id, lambda r: r.model_copy(update={"usage": total}))
        async for event in self._after_turn(run, turn, usage, budget, flow):
            yield event

    async def _complete(
        self, run: Run, turn: Turn, usage: Usage, total: Usage
    ) -> list[Event] | None:
        """The answer is whole: its message and step, the run's usage and its status are
        stored in one write. None when the run can no longer complete (it was cancelled or
        expired meanwhile): the caller then stores them one by one as before."""
        try:
            return await self._end_completed(run, turn, usage, total)
        except Exception:
            # The run fails next: the message its client may have seen stays, as it would
            # had it been stored at its first delta.
            with contextlib.suppress(Exception):
                await turn.store_message()
            raise

    async def _end_completed(
        self, run: Run, turn: Turn, usage: Usage, total: Usage
    ) -> list[Event] | None:
        content = await turn.final_content()
        message, step, at = turn.message, turn.message_step, now()

        def close_step(open_step: RunStep) -> RunStep:
            update: dict[str, object] = {"status": "completed", "completed_at": at}
            if step is not None and open_step.id == step.id:
                update["usage"] = usage
            return open_step.model_copy(update=update)

        def close(open_message: Message) -> Message:
            if message is not None and open_message.id == message.id:
                open_message = open_message.model_copy(update={"content": content})
            return close_message(open_message, None, at)

        try:
            ending = await self.store.end_run(
                run.id,
                lambda r: states.transition(r, "completed", at, usage=total),
                close_step,
                close,
                turn.unstored(),
            )
        except states.TransitionError:
            return None
        if ending is None:
            return None
        # The order of the step-by-step path: the message, its step, then the run.
        return [
            *(message_event(m) for m in ending.messages),
            *(step_event(s) for s in ending.steps),
            run_event(ending.run),
        ]

    async def _builtin(
        self, run: Run, call: PendingCall
    ) -> CodeInterpreterToolCall | FileSearchToolCall | None:
        """A built-in tool call's result; None when the run was stopped from outside while
        it ran (a cancel cuts a code cell short, as it cuts a model wait short)."""
        task = asyncio.ensure_future(self.tools.call(run, call))
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True
            task.cancel()

        unwatch = self.bus.watch(run.id, stop)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not stopped or (current is not None and current.cancelling()):
                raise
            return None
        finally:
            unwatch()

    async def _after_turn(
        self, run: Run, turn: Turn, usage: Usage, budget: _Budget, flow: _Flow
    ) -> AsyncIterator[Event]:
        cut_short = _cut_short(turn, usage, budget)
        calls = turn.tool_calls()
        message_usage = Usage() if calls else usage
        for event in await turn.close_message(message_usage, incomplete=cut_short):
            yield event
        if cut_short:
            async for event in self._incomplete(run.id, "max_completion_tokens"):
                yield event
            return
        if not calls or turn.tool_step is None:
            for event in await end_run(self.store, run.id, "completed"):
                yield event
            return
        async for event in self._tool_step(run, turn, usage, flow):
            yield event

    async def _tool_step(
        self, run: Run, turn: Turn, usage: Usage, flow: _Flow
    ) -> AsyncIterator[Event]:
        assert turn.tool_step is not None
        filled: dict[str, StepToolCall] = {}
        for index, call in sorted(turn.calls.items()):
            if not call.builtin:
                continue
            yield _step_delta(turn.tool_step.id, started_delta(index, call))
            done_call = await self._builtin(run, call)
            if done_call is None:  # cancelled or expired from outside meanwhile
                async for event in self._stop(run):
                    yield event
                return
            filled[call.id] = done_call
            outputs = outputs_delta(index, done_call)
            if outputs is not None:
                yield _step_delta(turn.tool_step.id, outputs)
        calls = [filled.get(call.id, call) for call in turn.tool_calls()]
        details = ToolCallsDetails(tool_calls=calls)
        step = turn.tool_step.model_copy(update={"step_details": details, "usage": usage})
        await self.store.update_step(step.id, lambda _: step)
        functions = [c for c in turn.calls.values() if not c.builtin]
        if not functions:
            done = _completed(step, now())
            await self.store.update_step(step.id, lambda _: done)
            yield step_event(done)
            flow.again = True
            return
        action = RequiredAction(
            submit_tool_outputs=SubmitToolOutputsAction(
                tool_calls=[
                    RequiredToolCall(
                        id=c.id, function=FunctionCallSpec(name=c.name, arguments=c.arguments)
                    )
                    for c in functions
                ]
            )
        )
        waiting = await self._move(run.id, "requires_action", required_action=action)
        if waiting is not None:
            yield run_event(waiting)

    async def _incomplete(self, run_id: str, reason: str) -> AsyncIterator[Event]:
        details = IncompleteDetails.model_validate({"reason": reason})
        for event in await end_run(self.store, run_id, "incomplete", incomplete_details=details):
            yield event


@dataclass
class _Flow:
    """Whether the model loop goes on after a turn (built-in tool outputs to read)."""

    again: bool = False


@dataclass(frozen=True)
class _Budget:
    """What is left of a run's token limits, which count over all its model calls."""

    run: Run
    used: Usage

    @property
    def prompt(self) -> int | None:
        limit = self.run.max_prompt_tokens
        return None if limit is None else limit - self.used.prompt_tokens

    @property
    def completion(self) -> int | None:
        limit = self.run.max_completion_tokens
        return None if limit is None else limit - self.used.completion_tokens

    @property
    def exhausted(self) -> str | None:
        if self.prompt is not None and self.prompt <= 0:
            return "max_prompt_tokens"
        if self.completion is not None and self.completion <= 0:
            return "max_completion_tokens"
        return None


def _step_delta(step_id: str, entry: dict[str, Any]) -> Event:
    return Event("thread.run.step.delta", RunStepDelta.tool_calls(step_id, [entry]))


def _completed(step: RunStep, at: int) -> RunStep:
    return step.model_copy(update={"status": "completed", "completed_at": at})


def _awaits_outputs(step: RunStep) -> bool:
    details = step.step_details
    return details.type == "tool_calls" and any(
        call.type == "function" for call in details.tool_calls
    )


def _cut_short(turn: Turn, usage: Usage, budget: _Budget) -> bool:
    """The model stopped at the run's completion token budget."""
    return (
        turn.finish_reason == "length"
        and budget.completion is not None
        and usage.completion_tokens >= budget.completion
    )
