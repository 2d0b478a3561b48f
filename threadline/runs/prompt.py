"""Turning a run and its thread into one chat-completions request.

The thread's messages and the tool calls of its runs become chat messages in creation order;
the built-in tools become functions the model can call; a prompt over its token budget loses
items from the middle of the conversation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.inference import ChatRequest
from threadline.protocol.messages import (
    Attachment,
    ImageFileContent,
    ImageUrlContent,
    Message,
    MessageContent,
    RefusalContent,
    TextContent,
)
from threadline.protocol.runs import (
    CodeInterpreterToolCall,
    FunctionToolCall,
    LogsOutput,
    Run,
    RunStep,
    StepToolCall,
    ToolCallsDetails,
    ToolChoice,
    TruncationStrategy,
)
from threadline.protocol.tools import AssistantTool, CodeInterpreterTool, FunctionTool
from threadline.runs.tokens import REPLY_PRIMING, count_message, count_tools
from threadline.tools.file_search import render_output

__all__ = ["BlockCache", "Prompt", "PromptTooLarge", "build_prompt"]

JSON = dict[str, Any]

NO_OUTPUT = "(no output was submitted for this call)"

CODE_INTERPRETER_DESCRIPTION = (
    "Run Python code in a stateful sandbox, like a Jupyter notebook cell: variables persist "
    "between calls. Files attached to the conversation are in /mnt/data; save files there "
    "to return them, and link each for the user as sandbox:/mnt/data/<name>. Figures shown "
    "with matplotlib reach the user. Print what you want to see; there is no network access."
)
FILE_SEARCH_DESCRIPTION = (
    "Search the files attached to the assistant and the thread. Returns the passages most "
    "relevant to the query, each with the name of its file."
)


class Prompt:
    """A request ready for the model, and its estimated prompt tokens: counted only when
    asked for (budgets, or an upstream that reports no usage), off the time to first token."""

    def __init__(self, request: ChatRequest, estimate: Callable[[], int]) -> None:
        self.request = request
        self._estimate = estimate

    @functools.cached_property
    def estimated_tokens(self) -> int:
        return self._estimate()


class PromptTooLarge(Exception):  # noqa: N818 -- the name the executor and docs use
    """Even the minimal prompt (system message and the last item) exceeds the budget."""

    def __init__(self, estimated_tokens: int, budget: int) -> None:
        super().__init__(
            f"The prompt needs at least {estimated_tokens} tokens; the budget is {budget}."
        )
        self.estimated_tokens = estimated_tokens
        self.budget = budget


@dataclass(frozen=True)
class _Block:
    """Chat messages that stay or go together: one thread message, or one tool exchange."""

    messages: list[JSON]
    is_message: bool

    @functools.cached_property
    def tokens(self) -> int:
        return sum(count_message(message) for message in self.messages)


def build_prompt(
    run: Run,
    history: Sequence[Message | RunStep],
    *,
    first_call: bool,
    prompt_budget: int | None,
    completion_budget: int | None,
    cache: BlockCache | None = None,
) -> Prompt:
    """The chat request for the next model call of `run`, over the thread's `history`.

    `history` holds the thread's messages and its runs' tool_calls steps in creation order;
    `cache` keeps how they were rendered for the next run. Raises `PromptTooLarge` when not
    even the system message and the last item fit `prompt_budget`.
    """
    system = [{"role": "system", "content": run.instructions}] if run.instructions else []
    tools = [_tool_schema(tool) for tool in run.tools]
    render = _block if cache is None else cache.block
    blocks = _last_messages([b for item in history if (b := render(item))], run.truncation_strategy)

    def fixed() -> int:
        return sum(count_message(m) for m in system) + REPLY_PRIMING + count_tools(tools)

    if prompt_budget is not None:
        blocks = _fit(blocks, fixed(), prompt_budget)
    messages = system + [message for block in blocks for message in block.messages]
    request = ChatRequest(
        model=run.model,
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(run.tool_choice, first_call) if tools else None,
        parallel_tool_calls=run.parallel_tool_calls if tools else None,
        temperature=run.temperature,
        top_p=run.top_p,
        response_format=_response_format(run),
        max_completion_tokens=completion_budget,
    )
    return Prompt(request, lambda: fixed() + sum(b.tokens for b in blocks))


# History items


class BlockCache:
    """History items already rendered (with their token counts), by item: a store hands out
    the same parsed item run after run while it is unchanged, and a changed item is a new
    object. A long thread is otherwise rendered whole on every run. The oldest go first."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._blocks: dict[int, tuple[Message | RunStep, _Block | None]] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    def block(self, item: Message | RunStep) -> _Block | None:
        found = self._blocks.get(id(item))
        if found is not None and found[0] is item:
            return found[1]
        block = _block(item)
        if len(self._blocks) >= self._size:
            del self._blocks[next(iter(self._blocks))]
        # The item is kept with its block, so its id names no other object meanwhile.
        self._blocks[id(item)] = (item, block)
        return block


def _block(item: Message | RunStep) -> _Block | None:
    if isinstance(item, Message):
        message = _chat_message(item)
        return _Block([message], is_message=True) if message else None
    details = item.step_details
    if not isinstance(details, ToolCallsDetails) or not details.tool_calls:
        return None
    calls = [(call.id, *_call_parts(call)) for call in details.tool_calls]
    request: JSON = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id_, name, arguments, _ in calls
        ],
    }
    replies = [
        {"role": "tool", "tool_call_id": id_, "content": output} for id_, _, _, output in calls
    ]
    return _Block([request, *replies], is_message=False)


def _chat_message(message: Message) -> JSON | None:
    content = message.content
    if len(content) == 1 and not message.attachments and isinstance(content[0], TextContent):
        # Most messages: one text, as the general case below would render it, at a fifth of
        # its cost (a long thread is rendered whole on every run).
        text = content[0].text.value
        return {"role": message.role, "content": text} if text.strip() else None
    parts = [_part(content) for content in message.content]
    if message.attachments:
        parts.append(_text_part("\n".join(map(_attachment_line, message.attachments))))
    parts = [part for part in parts if part["type"] != "text" or part["text"].strip()]
    if not parts:
        return None
    if message.role == "user" and any(part["type"] == "image_url" for part in parts):
        return {"role": "user", "content": parts}
    return {"role": message.role, "content": "\n".join(map(_as_text, parts))}


def _part(content: MessageContent) -> JSON:
    if isinstance(content, ImageUrlContent):
        image: JSON = {"url": content.image_url.url}
        if content.image_url.detail is not None:
            image["detail"] = content.image_url.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(content, ImageFileContent):
        return _text_part(f"[image file {content.image_file.file_id}]")
    if isinstance(content, RefusalContent):
        return _text_part(content.refusal)
    return _text_part(content.text.value)


def _text_part(text: str) -> JSON:
    return {"type": "text", "text": text}


def _as_text(part: JSON) -> str:
    if part["type"] == "image_url":
        return f"[image {part['image_url']['url']}]"
    text: str = part["text"]
    return text


def _attachment_line(attachment: Attachment) -> str:
    tools = ", ".join(tool.type for tool in attachment.tools)
    suffix = f" ({tools})" if tools else ""
    return f"[attached file {attachment.file_id}{suffix}]"


def _call_parts(call: StepToolCall) -> tuple[str, str, str]:
    """A step's tool call as the function call the model saw: name, arguments, output."""
    if isinstance(call, FunctionToolCall):
        function = call.function
        output = function.output if function.output is not None else NO_OUTPUT
        return function.name, function.arguments, output
    if isinstance(call, CodeInterpreterToolCall):
        code = call.code_interpreter
        lines = [
            out.logs if isinstance(out, LogsOutput) else f"[image {out.image.file_id}]"
            for out in code.outputs
        ]
        output = "\n".join(lines) or "(no output)"
        return "code_interpreter", json.dumps({"code": code.input}), output
    return "file_search", json.dumps({"query": ""}), render_output(call)


# Truncation


def _last_messages(blocks: list[_Block], strategy: TruncationStrategy | None) -> list[_Block]:
    """Keeps the last n thread messages and the tool exchanges after the first of them."""
    if strategy is None or strategy.type != "last_messages" or strategy.last_messages is None:
        return blocks
    starts = [index for index, block in enumerate(blocks) if block.is_message]
    if len(starts) <= strategy.last_messages:
        return blocks
    return blocks[starts[-strategy.last_messages] :]


def _fit(blocks: list[_Block], fixed: int, budget: int) -> list[_Block]:
    """Drops blocks from the middle until the prompt fits: the first message and the most
    recent blocks stay, the last block always."""
    costs = [block.tokens for block in blocks]
    if fixed + sum(costs) <= budget:
        return blocks
    used = fixed + (costs[-1] if blocks else 0)
    if not blocks or used > budget:
        raise PromptTooLarge(used, budget)
    kept = {len(blocks) - 1}
    first = next((i for i, block in enumerate(blocks) if block.is_message), None)
    if first is not None and first not in kept and used + costs[first] <= budget:
        kept.add(first)
        used += costs[first]
    for index in reversed(range(len(blocks) - 1)):
        if index in kept or used + costs[index] > budget:
            break
        kept.add(index)
        used += costs[index]
    return [block for index, block in enumerate(blocks) if index in kept]


# Tools and options


def _tool_schema(tool: AssistantTool) -> JSON:
    if isinstance(tool, FunctionTool):
        return {
            "type": "function",
            "function": tool.function.model_dump(mode="json", exclude_none=True),
        }
    if isinstance(tool, CodeInterpreterTool):
        return _function(
            "code_interpreter", CODE_INTERPRETER_DESCRIPTION, "code", "The Python code to run."
        )
    return _function("file_search", FILE_SEARCH_DESCRIPTION, "query", "What to search for.")


def _function(name: str, description: str, argument: str, help_: str) -> JSON:
    parameters = {
        "type": "object",
        "properties": {argument: {"type": "string", "description": help_}},
        "required": [argument],
    }
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def _tool_choice(choice: ToolChoice | None, first_call: bool) -> str | JSON | None:
    """The run's tool_choice for one model call: a forced choice binds the first call only,
    since forwarding it on every call makes models call the tool forever."""
    if choice is None:
        return None
    if isinstance(choice, str):
        return "auto" if choice == "required" and not first_call else choice
    if not first_call:
        return "auto"
    if choice.type != "function":
        return _named(choice.type)
    # Validation requires `function` with type function; forcing some tool is the safe reading.
    return _named(choice.function.name) if choice.function else "required"


def _named(name: str) -> JSON:
    return {"type": "function", "function": {"name": name}}


def _response_format(run: Run) -> JSON | None:
    response_format = run.response_format
    if response_format is None or isinstance(response_format, str):
        return None
    return response_format.model_dump(mode="json", by_alias=True, exclude_none=True)
