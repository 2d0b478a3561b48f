"""Logs: the JSON format, the run's ids on each line, and where the engine sets them."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from openai.types.chat import ChatCompletionChunk
from starlette.testclient import TestClient

from threadline.app import create_app
from threadline.config import Settings
from threadline.inference import ChatRequest
from threadline.logs import (
    JsonFormatter,
    RunContextFilter,
    configure_logging,
    run_id_var,
    set_run,
    set_step,
    step_id_var,
    thread_id_var,
)
from threadline.store.memory import MemoryStore
from threadline.testing import FakeModel, Reply


@pytest.fixture(autouse=True)
def no_run_context() -> Iterator[None]:
    """Sync tests share the main thread's context: leave no ids behind."""
    yield
    for var in (run_id_var, thread_id_var, step_id_var):
        var.set(None)


def _record(message: str = "hello %s", *args: object) -> logging.LogRecord:
    record = logging.LogRecord("threadline.test", logging.WARNING, __file__, 1, message, args, None)
    RunContextFilter().filter(record)
    return record


def test_a_json_line_carries_the_run_thread_and_step() -> None:
    set_run("run_1", "thread_1")
    set_step("step_1")
    line = json.loads(JsonFormatter().format(_record("hello %s", "world")))
    assert line["message"] == "hello world"
    assert line["level"] == "warning"
    assert line["logger"] == "threadline.test"
    assert (line["run_id"], line["thread_id"], line["step_id"]) == ("run_1", "thread_1", "step_1")
    assert line["time"].endswith("Z")


def test_a_line_outside_a_run_has_no_ids() -> None:
    line = json.loads(JsonFormatter().format(_record()))
    assert "run_id" not in line
    assert "step_id" not in line


def test_an_exception_comes_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]


def test_configured_json_logging_writes_one_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    logging.getLogger("threadline.x").info("ready")
    logging.getLogger("threadline.x").debug("hidden")
    lines = capsys.readouterr().err.strip().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["ready"]


def test_configured_text_logging_appends_the_ids(capsys: pytest.CaptureFixture[str]) -> None:
    uvicorn_config = configure_logging("debug", "text")
    set_run("run_9", "thread_9")
    logging.getLogger("threadline.x").debug("working")
    assert capsys.readouterr().err == "DEBUG threadline.x: working [run=run_9 thread=thread_9]\n"
    assert uvicorn_config["loggers"]["uvicorn.access"]["propagate"] is True


@dataclass
class _Witness:
    """A model that notes the log context it is called in."""

    inner: FakeModel
    seen: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatCompletionChunk]:
        self.seen.append((run_id_var.get(), thread_id_var.get(), step_id_var.get()))
        async for chunk in self.inner.stream(request):
            yield chunk


def test_the_engine_marks_a_run_s_work_with_its_ids() -> None:
    witness = _Witness(FakeModel(script=[Reply(tool_calls=(("file_search", '{"query": "x"}'),))]))
    app = create_app(Settings(), store=MemoryStore(), model=witness)
    with TestClient(app) as client:
        assistant = client.post(
            "/v1/assistants", json={"model": "m", "tools": [{"type": "file_search"}]}
        ).json()
        body = {
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": "q"}]},
        }
        run = client.post("/v1/threads/runs", json=body).json()
        deadline = time.monotonic() + 10
        while len(witness.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        steps = client.get(f"/v1/threads/{run['thread_id']}/runs/{run['id']}/steps").json()
    assert [seen[:2] for seen in witness.seen] == [(run["id"], run["thread_id"])] * 2
    tool_step = [s["id"] for s in steps["data"] if s["type"] == "tool_calls"]
    assert witness.seen[1][2] in tool_step
