"""Built-in tools executed inside a run: `code_interpreter` and `file_search`.

Each is offered to the upstream model as a function; the call it makes becomes a typed
tool call in the run step. A tool without a backend (code_interpreter switched off)
answers, as its output, that it is unavailable, so the model can tell the user instead of
failing the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from threadline.protocol.runs import (
    CodeInterpreterCall,
    CodeInterpreterToolCall,
    FileSearchCall,
    FileSearchToolCall,
    LogsOutput,
    Run,
)
from threadline.tools.code_interpreter import CodeInterpreter
from threadline.tools.file_search import FileSearcher

__all__ = ["BuiltinTools", "PendingToolCall", "outputs_delta", "started_delta"]

UNAVAILABLE = "The {name} tool is not available on this server."


class PendingToolCall(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def arguments(self) -> str: ...


def _argument(arguments: str, key: str) -> str:
    try:
        value = json.loads(arguments).get(key, "")
    except (ValueError, AttributeError):
        return arguments
    return value if isinstance(value, str) else json.dumps(value)


def started_delta(index: int, call: PendingToolCall) -> dict[str, Any]:
    """The step delta that announces a built-in call before it runs."""
    entry: dict[str, Any] = {"index": index, "id": call.id, "type": call.name}
    if call.name == "code_interpreter":
        entry["code_interpreter"] = {"input": _argument(call.arguments, "code"), "outputs": []}
    else:
        entry["file_search"] = {}
    return entry


def outputs_delta(
    index: int, call: CodeInterpreterToolCall | FileSearchToolCall
) -> dict[str, Any] | None:
    """The step delta that carries a finished code_interpreter call's outputs."""
    if not isinstance(call, CodeInterpreterToolCall):
        return None
    outputs = [
        {"index": i, **output.model_dump(mode="json")}
        for i, output in enumerate(call.code_interpreter.outputs)
    ]
    return {"index": index, "type": call.type, "code_interpreter": {"outputs": outputs}}


@dataclass
class BuiltinTools:
    """Runs built-in tool calls: each with its backend when one is given."""

    file_search: FileSearcher | None = None
    code_interpreter: CodeInterpreter | None = None

    def output_files(self, run_id: str) -> dict[str, str]:
        """The files the run's code_interpreter cells wrote, by name (file ids)."""
        if self.code_interpreter is None:
            return {}
        return self.code_interpreter.output_files(run_id)

    async def call(
        self, run: Run, call: PendingToolCall
    ) -> CodeInterpreterToolCall | FileSearchToolCall:
        if call.name == "code_interpreter":
            if self.code_interpreter is not None:
                code = _argument(call.arguments, "code")
                return await self.code_interpreter.call(run, call.id, code)
            logs = LogsOutput(logs=UNAVAILABLE.format(name=call.name))
            details = CodeInterpreterCall(input=_argument(call.arguments, "code"), outputs=[logs])
            return CodeInterpreterToolCall(id=call.id, code_interpreter=details)
        if self.file_search is not None:
            return await self.file_search.call(run, call.id, _argument(call.arguments, "query"))
        return FileSearchToolCall(id=call.id, file_search=FileSearchCall())
