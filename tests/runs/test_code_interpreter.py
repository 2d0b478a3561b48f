"""code_interpreter inside the executor where no sandbox can start, or where it is off."""

from __future__ import annotations

from tests.runs.conftest import Harness
from threadline.blobs import MemoryBlobStore
from threadline.protocol.runs import CodeInterpreterToolCall, ToolCallsDetails
from threadline.runs.executor import Executor
from threadline.testing import Reply
from threadline.tools.builtin import BuiltinTools
from threadline.tools.code_interpreter import CodeInterpreter

CODE = '{"code": "print(1)"}'
TOOLS = {"tools": [{"type": "code_interpreter"}]}


async def test_no_sandbox_fails_the_run_with_the_reason() -> None:
    harness = Harness()
    interpreter = CodeInterpreter(harness.store, MemoryBlobStore(), pool=None)
    interpreter.disable("bubblewrap is not installed")
    tools = BuiltinTools(code_interpreter=interpreter)
    executor = Executor(harness.store, harness.model, harness.bus, tools)
    harness.model.enqueue(Reply(tool_calls=(("code_interpreter", CODE),)))
    run = await harness.start(assistant=TOOLS)
    await harness.drive(executor)
    failed = await harness.get(run)
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "server_error"
    assert "bubblewrap is not installed" in failed.last_error.message


async def test_switched_off_it_tells_the_model() -> None:
    harness = Harness()
    harness.model.enqueue(Reply(tool_calls=(("code_interpreter", CODE),)), Reply(text="Sorry."))
    run = await harness.start(assistant=TOOLS)
    await harness.drive()
    assert (await harness.get(run)).status == "completed"
    details = (await harness.steps(run))[0].step_details
    assert isinstance(details, ToolCallsDetails)
    [call] = details.tool_calls
    assert isinstance(call, CodeInterpreterToolCall)
    assert "not available" in call.code_interpreter.outputs[0].model_dump()["logs"]
