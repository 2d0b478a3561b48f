"""One model call of a run: its stream turned into a message, tool calls and events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from threadline.ids import new_id, now
from threadline.inference import ChatRequest, ModelClient
from threadline.protocol.messages import Annotation, Message, MessageContent, Text, TextContent
from threadline.protocol.runs import (
    FunctionCall,
    FunctionToolCall,
    MessageCreation,
    MessageCreationDetails,
    Run,
    RunStep,
    ToolCallsDetails,
    Usage,
)
from threadline.protocol.stream import MessageDelta, RunStepDelta
from threadline.protocol.tools import CodeInterpreterTool
from threadline.runs import citations, tokens
from threadline.runs.events import Event, message_event, step_event
from threadline.store.base import Store
from threadline.tools.code_interpreter import message_extras

__all__ = ["PendingCall", "Turn"]

BUILTIN_TOOLS = frozenset({"code_interpreter", "file_search"})


@dataclass
class PendingCall:
    """A tool call as the model streamed it, under Threadline's own `call_` id."""

    id: str
    name: str = ""
    arguments: str = ""

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_TOOLS


@dataclass
class Turn:
    """Consumes one streamed completion. After `events()` is drained, the fields say what
    the model produced; the message and tool step exist in the store, still open."""

    store: Store
    model: ModelClient
    run: Run
    request: ChatRequest
    # The files the run's code_interpreter cells wrote, by name: for `file_path` annotations.
    code_files: Callable[[str], dict[str, str]] | None = None
    text: list[str] = field(default_factory=list)
    message: Message | None = None
    message_step: RunStep | None = None
    calls: dict[int, PendingCall] = field(default_factory=dict)
    tool_step: RunStep | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    stopped: bool = False
    # The message and its step are not stored yet (a whole answer nobody streams: they
    # are stored when the run ends, or before anything else reads or changes them).
    _unstored: bool = False
    _interrupt: bool = False
    _waiting: bool = False
    _task: asyncio.Task[Any] | None = None

    def interrupt(self) -> None:
        """The run was changed from outside (cancel, expiry): stop reading the model. A
        wait for the model is cut short at once; otherwise the next chunk sees it."""
        self._interrupt = True
        if self._task is not None and self._waiting:
            self._task.cancel()

    async def _next(self, stream: AsyncIterator[ChatCompletionChunk]) -> ChatCompletionChunk | None:
        """The next chunk; None at the end of the stream or once interrupted."""
        self._waiting = True
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:
            if not self._interrupt or self._task is None:
                raise
            self._task.uncancel()
            return None
        finally:
            self._waiting = False

    async def events(self) -> AsyncIterator[Event]:
        stream = self.model.stream(self.request)
        self._task = asyncio.current_task()
        try:
            while (chunk := await self._next(stream)) is not None:
                # Checked before the chunk is used: a run ended from outside (cancel,
                # expiry) must not stream or store anything more.
                if self._interrupt:
                    self.stopped = True
                    break
                async for event in self._chunk(chunk):
                    yield event
            if self._interrupt:
                self.stopped = True
        except Exception:
            await self.keep_text()
            raise
        finally:
            await _close(stream)
        if self.stopped:
            await self.keep_text()

    async def keep_text(self) -> None:
        """Store the text streamed so far in the message, so that a run ended mid-reply
        (cancelled, expired, failed) leaves the message its client saw streamed. The stored
        message is read first: whoever ended the run may have closed it already."""
        if self.message is None or not self.text:
            return
        await self.store_message()
        stored = await self.store.get_message(self.message.thread_id, self.message.id)
        if stored is not None:
            self.message = stored.model_copy(update={"content": self._content()})
            await self.store.replace_message(self.message)

    def _content(self) -> list[MessageContent]:
        return [TextContent(text=Text(value="".join(self.text)))]

    async def final_content(self) -> list[MessageContent]:
        """The message's content once the answer is whole (citations included)."""
        return await self._annotated()

    async def _annotated(self) -> list[MessageContent]:
        """The final content: the text with its citations of file_search results, and with
        code_interpreter's figures and `file_path` links when the run can run code."""
        text = "".join(self.text)
        code = self.code_files is not None and any(
            isinstance(tool, CodeInterpreterTool) for tool in self.run.tools
        )
        if citations.MARKER_OPEN not in text and not code:
            return self._content()
        annotations: list[Annotation] = []
        if citations.MARKER_OPEN in text:
            results = citations.search_results(await self.store.run_steps(self.run.id))
            annotations += citations.annotate(text, results)
        images: list[MessageContent] = []
        if code and self.code_files is not None and self.message is not None:
            paths, figures = await message_extras(
                self.store, self.run, self.message.id, text, self.code_files(self.run.id)
            )
            annotations += paths
            images += figures
        annotations.sort(key=lambda a: a.start_index)
        return [TextContent(text=Text(value=text, annotations=annotations)), *images]

    async def _chunk(self, chunk: ChatCompletionChunk) -> AsyncIterator[Event]:
        if chunk.usage is not None:
            self.usage = Usage(
                prompt_tokens=chunk.usage.prompt_tokens,
                completion_tokens=chunk.usage.completion_tokens,
                total_tokens=chunk.usage.total_tokens,
            )
        for choice in chunk.choices:
            if choice.delta.content:
                async for event in self._text(choice.delta.content):
                    yield event
            for call in choice.delta.tool_calls or ():
                async for event in self._tool_call(call):
                    yield event
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        # A new message is stored after its first delta went out: the store's latency stays
        # off the time to first token; nothing else writes the message before this returns.
        # An answer that came whole to a run nobody streams (its first chunk also ends it)
        # is stored later, with the run's end when that ends the run: one write fewer.
        if self._unstored and (self.request.stream or self.finish_reason is None):
            await self.store_message()

    async def _text(self, piece: str) -> AsyncIterator[Event]:
        opening = self.message is None
        if opening:
            for event in self._new_message():
                yield event
        assert self.message is not None
        self.text.append(piece)
        yield Event("thread.message.delta", MessageDelta.text(self.message.id, piece))
        if opening:
            self._unstored = True  # stored at the end of this chunk (`_chunk`)

    async def store_message(self) -> None:
        """Store the message and its step if they are not stored yet."""
        if self._unstored and self.message is not None and self.message_step is not None:
            self._unstored = False
            await self.store.insert_step(self.message_step, self.message)

    def unstored(self) -> tuple[RunStep, Message] | None:
        """The message's step and the message, when they are not stored yet."""
        if self._unstored and self.message is not None and self.message_step is not None:
            return self.message_step, self.message
        return None

    def _new_message(self) -> list[Event]:
        run, at = self.run, now()
        self.message = Message(
            id=new_id("msg"),
            created_at=at,
            thread_id=run.thread_id,
            status="in_progress",
            role="assistant",
            content=[],
            assistant_id=run.assistant_id,
            run_id=run.id,
            attachments=[],
            metadata={},
        )
        details = MessageCreationDetails(
            message_creation=MessageCreation(message_id=self.message.id)
        )
        self.message_step = self._new_step("message_creation", details, at)
        return [
            step_event(self.message_step, "created"),
            step_event(self.message_step, "in_progress"),
            message_event(self.message, "created"),
            message_event(self.message, "in_progress"),
        ]

    def _new_step(
        self, kind: str, details: MessageCreationDetails | ToolCallsDetails, at: int
    ) -> RunStep:
        return RunStep.model_validate(
            {
                "id": new_id("step"),
                "created_at": at,
                "assistant_id": self.run.assistant_id,
                "thread_id": self.run.thread_id,
                "run_id": self.run.id,
                "type": kind,
                "status": "in_progress",
                "step_details": details,
                "metadata": {},
            }
        )

    async def _tool_call(self, delta: ChoiceDeltaToolCall) -> AsyncIterator[Event]:
        if self.tool_step is None:
            for event in await self._open_tool_step():
                yield event
        assert self.tool_step is not None
        call = self.calls.get(delta.index)
        first = call is None
        if call is None:
            call = self.calls[delta.index] = PendingCall(id=new_id("call"))
        function = delta.function
        name = (function.name or "") if function else ""
        arguments = (function.arguments or "") if function else ""
        call.name += name
        call.arguments += arguments
        if call.builtin or not (first or name or arguments):
            return
        entry: dict[str, object] = {"index": delta.index, "type": "function"}
        if first:
            entry["id"] = call.id
            entry["function"] = {"name": call.name, "arguments": arguments, "output": None}
        else:
            # Clients concatenate the strings of successive deltas: send only what is new.
            entry["function"] = ({"name": name} if name else {}) | {"arguments": arguments}
        yield Event("thread.run.step.delta", RunStepDelta.tool_calls(self.tool_step.id, [entry]))

    async def _open_tool_step(self) -> list[Event]:
        events = await self.close_message(usage=Usage()) if self.message else []
        self.tool_step = self._new_step("tool_calls", ToolCallsDetails(), now())
        await self.store.insert_step(self.tool_step)
        return [
            *events,
            step_event(self.tool_step, "created"),
            step_event(self.tool_step, "in_progress"),
        ]

    async def close_message(self, usage: Usage, incomplete: bool = False) -> list[Event]:
        """Store the message's text and complete it (or mark it incomplete) with its step."""
        from threadline.runs.closing import close_message

        message, step = self.message, self.message_step
        if message is None or step is None or message.status != "in_progress":
            return []
        await self.store_message()
        at = now()
        message = close_message(
            message.model_copy(update={"content": await self._annotated()}),
            "max_tokens" if incomplete else None,
            at,
        )
        self.message = message
        await self.store.replace_message(message)
        step = step.model_copy(update={"status": "completed", "completed_at": at, "usage": usage})
        self.message_step = step
        await self.store.update_step(step.id, lambda _: step)
        return [message_event(message), step_event(step)]

    def tool_calls(self) -> list[FunctionToolCall]:
        return [
            FunctionToolCall(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments))
            for _, c in sorted(self.calls.items())
        ]

    def estimated_usage(self, prompt_tokens: int) -> Usage:
        """The upstream's usage, or a local count when it sent none."""
        if self.usage is not None:
            return self.usage
        completion = tokens.count_text("".join(self.text)) + sum(
            tokens.count_text(c.name + c.arguments) for c in self.calls.values()
        )
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion,
            total_tokens=prompt_tokens + completion,
        )


async def _close(stream: AsyncIterator[ChatCompletionChunk]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
