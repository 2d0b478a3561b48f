"""The code_interpreter tool over a real sandboxed kernel: files in from the assistant, the
thread and attachments; files out as `assistants_output` Files; links the code plants in
/mnt/data never make the server read or write through them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from tests.runs.conftest import OWNER, Harness, names, request
from tests.sandbox.conftest import LIMITS, VENV, requires_sandbox
from threadline.blobs import MemoryBlobStore
from threadline.ids import new_id, now
from threadline.protocol.files import FileObject
from threadline.protocol.runs import CodeInterpreterToolCall, LogsOutput, Run
from threadline.protocol.threads import CreateThreadRequest
from threadline.protocol.tools import CodeInterpreterResources, ToolResources
from threadline.runs.events import Event
from threadline.runs.executor import Executor
from threadline.sandbox.bubblewrap import BubblewrapSandbox
from threadline.sandbox.pool import KernelPool
from threadline.testing import Reply
from threadline.tools.builtin import BuiltinTools
from threadline.tools.code_interpreter import CodeInterpreter


@pytest.fixture
async def interpreter() -> AsyncIterator[tuple[Harness, CodeInterpreter]]:
    requires_sandbox()
    harness = Harness()
    pool = KernelPool(BubblewrapSandbox(VENV, LIMITS), VENV, LIMITS)
    tool = CodeInterpreter(harness.store, MemoryBlobStore(), pool)
    try:
        yield harness, tool
    finally:
        await tool.close()


async def upload(tool: CodeInterpreter, name: str, data: bytes) -> str:
    file_id = new_id("file", "-")
    await tool.blobs.put(file_id, _once(data))
    file = FileObject(
        id=file_id, bytes=len(data), created_at=now(), filename=name, purpose="assistants"
    )
    await tool.store.insert_file(file)
    return file_id


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def logs_of(call: CodeInterpreterToolCall) -> str:
    return "".join(o.logs for o in call.code_interpreter.outputs if isinstance(o, LogsOutput))


async def a_run(harness: Harness, assistant_file: str, thread_file: str, attached: str) -> Run:
    """A run whose assistant, thread and one message each bring a file for the tool."""
    resources = {"code_interpreter": {"file_ids": [assistant_file]}}
    assistant = await harness.assistant(
        tools=[{"type": "code_interpreter"}], tool_resources=resources
    )
    body = request(
        CreateThreadRequest,
        messages=[
            {
                "role": "user",
                "content": "Hi",
                "attachments": [{"file_id": attached, "tools": [{"type": "code_interpreter"}]}],
            }
        ],
        tool_resources={"code_interpreter": {"file_ids": [thread_file]}},
    )
    thread = await harness.services.threads.create(body)
    return await harness.run(thread.id, assistant.id)


async def set_thread_files(harness: Harness, run: Run, *file_ids: str) -> None:
    thread = await harness.store.get_thread(run.thread_id)
    assert thread is not None
    resources = ToolResources(code_interpreter=CodeInterpreterResources(file_ids=list(file_ids)))
    await harness.store.replace_thread(thread.model_copy(update={"tool_resources": resources}))


async def test_files_go_in_and_come_out(interpreter: tuple[Harness, CodeInterpreter]) -> None:
    harness, tool = interpreter
    data_id = await upload(tool, "data.csv", b"a\n1\n")
    thread_id = await upload(tool, "thread.txt", b"t")
    attached = await upload(tool, "attached.txt", b"m")
    run = await a_run(harness, data_id, thread_id, attached)
    listing = await tool.call(run, "call_0", "import os\nprint(sorted(os.listdir('/mnt/data')))")
    assert logs_of(listing) == "['attached.txt', 'data.csv', 'thread.txt']\n"
    code = "print(open('/mnt/data/data.csv').read())\nopen('/mnt/data/out.txt', 'w').write('hi')"
    call = await tool.call(run, "call_1", code)
    assert logs_of(call).startswith("a\n1\n")
    files = tool.output_files(run.id)
    assert list(files) == ["out.txt"]
    written = await harness.store.get_file(files["out.txt"])
    assert written is not None
    assert written.purpose == "assistants_output"
    assert await tool.blobs.read(written.id) == b"hi"
    # Unchanged inputs are not outputs; a changed one is.
    call = await tool.call(run, "call_2", "open('/mnt/data/data.csv', 'a').write('2\\n')")
    assert "data.csv" in tool.output_files(run.id)


async def test_planted_links_are_never_followed(
    interpreter: tuple[Harness, CodeInterpreter],
) -> None:
    harness, tool = interpreter
    data_id = await upload(tool, "data.csv", b"a\n1\n")
    run = await a_run(harness, data_id, data_id, data_id)
    code = (
        "import os\n"
        "os.symlink('/etc/shadow', '/mnt/data/shadow')\n"
        "os.symlink('/etc/passwd', '/mnt/data/later.csv')\n"
    )
    await tool.call(run, "call_1", code)
    assert "shadow" not in tool.output_files(run.id)
    # A file placed later under a name the code took lands beside it, not through it.
    later = await upload(tool, "later.csv", b"safe")
    await set_thread_files(harness, run, later)
    call = await tool.call(run, "call_2", "import os\nprint(sorted(os.listdir('/mnt/data')))")
    assert f"'{later}-later.csv'" in logs_of(call)
    assert b"safe" not in _read("/etc/passwd")


async def _events(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


async def _sleeping(tool: CodeInterpreter, thread_id: str, within: float = 60.0) -> None:
    """Until the thread's kernel has written /mnt/data/sleeping (on a loaded machine the
    kernel may take seconds to start and run a cell's first lines)."""
    deadline = time.monotonic() + within
    while True:
        kernel = tool.pool._kernels.get(thread_id) if tool.pool is not None else None
        if kernel is not None and (kernel.workspace.data / "sleeping").exists():
            return
        assert time.monotonic() < deadline, "the cell never reached its sleep"
        await asyncio.sleep(0.05)


async def test_a_cancel_stops_a_running_cell_and_keeps_the_kernel(
    interpreter: tuple[Harness, CodeInterpreter],
) -> None:
    harness, tool = interpreter
    executor = Executor(
        harness.store, harness.model, harness.bus, BuiltinTools(code_interpreter=tool)
    )
    code = "kept = 41\nopen('/mnt/data/sleeping', 'w').close()\nimport time\ntime.sleep(60)"
    harness.model.enqueue(Reply(tool_calls=(("code_interpreter", json.dumps({"code": code})),)))
    run = await harness.start(assistant={"tools": [{"type": "code_interpreter"}]})
    claim = await harness.store.claim_next_run(OWNER, time.time(), 30.0)
    assert claim is not None
    task = asyncio.create_task(_events(executor.execute(claim)))
    await _sleeping(tool, run.thread_id)  # the cell set `kept` and sleeps now
    await harness.services.runs.cancel(run.thread_id, run.id)
    began = time.monotonic()
    events = await asyncio.wait_for(task, 10)
    assert time.monotonic() - began < 5  # not the cell's 60 s, nor its wall limit
    assert names(events)[-2:] == ["thread.run.step.cancelled", "thread.run.cancelled"]
    assert (await harness.get(run)).status == "cancelled"
    # The kernel was interrupted, not killed: what the cell set before its sleep is kept.
    after = await tool.call(run, "call_1", "print(kept + 1)")
    assert logs_of(after) == "42\n"
