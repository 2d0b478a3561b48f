"""Built-in tools executed inside a run: `code_interpreter` and `file_search`.

Each is offered to the upstream model as a function; the call it makes becomes a typed
tool call in the run step. Until a backend is configured a call answers, as its output,
that the tool is unavailable, so the model can tell the user instead of failing the run."""

from __future__ import annotations

import json
from typing import Protocol

from threadline.protocol.runs import (
    CodeInterpreterCall,
    CodeInterpreterToolCall,
    FileSearchCall,
    FileSearchToolCall,
    LogsOutput,
    Run,
)

__all__ = ["BuiltinTools", "PendingToolCall"]

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


class BuiltinTools:
    """Runs built-in tool calls; later backends replace the unavailable answers."""

    async def call(
        self, run: Run, call: PendingToolCall
    ) -> CodeInterpreterToolCall | FileSearchToolCall:
        if call.name == "code_interpreter":
            logs = LogsOutput(logs=UNAVAILABLE.format(name=call.name))
            details = CodeInterpreterCall(input=_argument(call.arguments, "code"), outputs=[logs])
            return CodeInterpreterToolCall(id=call.id, code_interpreter=details)
        return FileSearchToolCall(id=call.id, file_search=FileSearchCall())
