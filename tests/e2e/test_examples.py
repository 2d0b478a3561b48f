"""Every script in examples/ runs against `threadline serve` and a fake upstream scripted to
make the calls the example expects, exactly as a user would run it (a subprocess that
reads OPENAI_BASE_URL and OPENAI_API_KEY), so the examples never rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Server, ServerFactory, SqliteFiles
from tests.sandbox.conftest import requires_sandbox
from threadline.fake_upstream import FakeUpstream

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "sk-examples"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def server(upstream: FakeUpstream, server_factory: ServerFactory, tmp_path: Path) -> Server:
    """A fresh server on SQLite (the examples do not depend on the backend)."""
    upstream.reset()
    env = {"THREADLINE_MODEL_BASE_URL": upstream.base_url}
    return server_factory(SqliteFiles(tmp_path).new(), api_keys=KEY, env=env)


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": json.dumps(arguments)}]}


def run_example(name: str, server: Server) -> list[str]:
    """Run examples/<name> as a user would; its stdout lines (it must exit 0)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "THREADLINE_"))}
    env |= {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": KEY}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout.splitlines()


def test_every_example_has_a_test() -> None:
    tested = {"function_calling.py", "streaming.py", "file_search.py", "code_interpreter.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_function_calling(server: Server, upstream: FakeUpstream) -> None:
    upstream.enqueue(_call("get_weather", city="Oslo"))  # then the tool result is echoed
    lines = run_example("function_calling.py", server)
    assert lines == [
        "tool call: get_weather({'city': 'Oslo'})",
        "run: completed",
        "user: What is the weather in Oslo?",
        "assistant: Tool said: rainy, 7 °C in Oslo",
    ]
    assert [body["model"] for body in upstream.history] == ["gpt-4o", "gpt-4o"]


def test_streaming(server: Server, upstream: FakeUpstream) -> None:
    upstream.enqueue(_call("get_time", city="Lima"))
    lines = run_example("streaming.py", server)
    assert lines == ["[tool call: function]", "Tool said: 09:41 in Lima", "[run completed]"]


def test_file_search(server: Server, upstream: FakeUpstream) -> None:
    answer = "Up to 180 EUR per night【0†travel-policy.md】."
    upstream.enqueue(_call("file_search", query="hotel night Oslo"), {"text": answer})
    lines = run_example("file_search.py", server)
    assert lines[:4] == [
        "indexed: 1 file(s), status completed",
        "run: completed",
        "searched: ['file_search']",
        f"answer: {answer}",
    ]
    assert lines[4].startswith("cited: file-")
    assert len(lines) == 5
    tool_result = upstream.history[1]["messages"][-1]
    assert tool_result["role"] == "tool"
    assert "180 EUR per night in Oslo" in tool_result["content"]  # the search found it


def test_code_interpreter(server: Server, upstream: FakeUpstream) -> None:
    requires_sandbox()
    upstream.enqueue(_call("code_interpreter", code="print(2 ** 100)"))
    lines = run_example("code_interpreter.py", server)
    assert lines[:3] == [
        "run: completed",
        "code: print(2 ** 100)",
        "output: 1267650600228229401496703205376",
    ]
    assert lines[3:] == ["answer: Tool said: 1267650600228229401496703205376"]
