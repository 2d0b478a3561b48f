"""Test helpers that ship with Threadline: a scripted model and an in-memory application."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk
from starlette.applications import Starlette

from threadline.app import create_app
from threadline.blobs import MemoryBlobStore
from threadline.config import Settings
from threadline.inference import ChatRequest, ErrorCode, ModelError
from threadline.store.memory import MemoryStore

__all__ = ["FakeModel", "Reply", "memory_app"]


@dataclass(frozen=True)
class Reply:
    """One scripted completion: text, tool calls `(name, arguments)`, or an error (raised
    after the text and tool calls given with it: a stream that breaks off)."""

    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()
    error: ErrorCode | None = None
    finish_reason: str | None = None
    usage: tuple[int, int] | None = (10, 5)
    delay: float = 0.0
    # Sent as a whole completion comes to a request with `stream` false: one chunk with
    # all the text, the tool calls and the finish reason (then the usage).
    whole: bool = False


@dataclass
class FakeModel:
    """A `ModelClient` that answers from a script: `enqueue()` replies, read `history`.
    With the script empty it echoes the last message."""

    script: list[Reply] = field(default_factory=list)
    history: list[ChatRequest] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def enqueue(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatCompletionChunk]:
        self.history.append(request)
        reply = self.script.pop(0) if self.script else _echo(request)
        for chunk in self._chunks(reply):
            if reply.delay:
                await asyncio.sleep(reply.delay)
            yield ChatCompletionChunk.model_validate(chunk)
        if reply.error is not None:
            raise ModelError(reply.error, f"scripted {reply.error}")

    def _chunks(self, reply: Reply) -> list[dict[str, Any]]:
        base: dict[str, Any] = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake",
        }
        deltas: list[dict[str, Any]] = [{"content": word} for word in _words(reply.text)]
        for index, (name, arguments) in enumerate(reply.tool_calls):
            call = {"index": index, "id": f"up_{index}", "type": "function"}
            deltas.append({"tool_calls": [call | {"function": {"name": name, "arguments": ""}}]})
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        if reply.whole and reply.error is None:
            delta: dict[str, Any] = {"content": reply.text or None}
            if reply.tool_calls:
                delta["tool_calls"] = [
                    {"index": i, "id": f"up_{i}", "type": "function"}
                    | {"function": {"name": name, "arguments": arguments}}
                    for i, (name, arguments) in enumerate(reply.tool_calls)
                ]
            deltas = [delta]
        chunks = [base | {"choices": [{"index": 0, "delta": d}]} for d in deltas]
        if reply.error is not None:
            return chunks  # the stream breaks off after what was given with the error
        if reply.whole:
            chunks[-1]["choices"][0]["finish_reason"] = finish
        else:
            chunks.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if reply.usage is not None:
            prompt, completion = reply.usage
            usage = {"prompt_tokens": prompt, "completion_tokens": completion}
            chunks.append(
                base | {"choices": [], "usage": usage | {"total_tokens": prompt + completion}}
            )
        return chunks


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]] if text else []


def _echo(request: ChatRequest) -> Reply:
    last = request.messages[-1] if request.messages else {}
    content = last.get("content")
    return Reply(text=f"Echo: {content if isinstance(content, str) else json.dumps(content)}")


def memory_app(**settings: Any) -> Starlette:
    """The full application over a fresh `MemoryStore` and `MemoryBlobStore`; `settings`
    override defaults."""
    return create_app(Settings(**settings), store=MemoryStore(), blobs=MemoryBlobStore())
