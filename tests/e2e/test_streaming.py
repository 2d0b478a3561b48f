"""Streaming runs as the official SDKs consume them: event handlers, raw SSE, Node."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Text, TextDelta
from openai.types.beta.threads.runs import ToolCall, ToolCallDelta

from tests.e2e.harness import (
    SDK_DEPRECATED,
    Databases,
    Server,
    ServerFactory,
    run_node_script,
    sdk_client,
)
from tests.openapi_check import parse_sse, validate_stream_event
from tests.sandbox.conftest import requires_sandbox
from threadline.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

WEATHER: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object"}},
}
TEXT_FLOW = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]
TEXT_END = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]


class Recorder(AssistantEventHandler):
    """Keeps what the SDK's handler callbacks saw."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text = ""
        self.tool_calls: list[ToolCall] = []
        self.arguments = ""

    def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.text += delta.value or ""

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.tool_calls.append(tool_call)

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        if delta.type == "function" and delta.function and delta.function.arguments:
            self.arguments += delta.function.arguments


@pytest.fixture(autouse=True)
def fresh_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


@pytest.fixture
def assistant(client: openai.OpenAI) -> Any:
    return client.beta.assistants.create(model="fake-model", tools=[WEATHER])


def _deltas(events: list[str]) -> int:
    return sum(1 for e in events if e == "thread.message.delta")


def test_stream_with_an_event_handler(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "stream these few words please"}]
    )
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
    deltas = _deltas(recorder.events)
    assert deltas > 1
    assert recorder.events == [*TEXT_FLOW, *["thread.message.delta"] * deltas, *TEXT_END]
    assert recorder.text == "Echo: stream these few words please"
    stored = client.beta.threads.messages.list(thread.id).data[0]
    assert stored.content[0].text.value == recorder.text  # type: ignore[union-attr]
    final = stream.get_final_run()
    assert final.status == "completed"
    assert final.usage is not None
    assert [m.id for m in stream.get_final_messages()] == [stored.id]


def test_tool_calls_stream_then_outputs_continue_on_a_new_stream(
    client: openai.OpenAI, assistant: Any
) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": 'call:get_weather({"city": "Lima"})'}]
    )
    first = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=first
    ) as stream:
        stream.until_done()
    assert first.events[-1] == "thread.run.requires_action"
    assert [c.type for c in first.tool_calls] == ["function"]
    assert json.loads(first.arguments) == {"city": "Lima"}
    run = stream.get_final_run()
    assert run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.id == first.tool_calls[0].id
    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
        event_handler=second,
    ) as stream:
        stream.until_done()
    assert second.events[0] == "thread.run.queued"
    assert "thread.run.step.completed" in second.events
    assert second.events[-1] == "thread.run.completed"
    assert second.text == "Tool said: sunny"


def test_create_and_run_stream(client: openai.OpenAI, assistant: Any) -> None:
    recorder = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "new thread"}]},
        event_handler=recorder,
    ) as stream:
        stream.until_done()
    assert recorder.events[0] == "thread.created"
    assert recorder.events[1:8] == TEXT_FLOW
    assert recorder.text == "Echo: new thread"


async def test_async_stream(async_client: openai.AsyncOpenAI) -> None:
    assistant = await async_client.beta.assistants.create(model="fake-model")
    thread = await async_client.beta.threads.create(
        messages=[{"role": "user", "content": "async stream"}]
    )
    names = []
    async with async_client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id
    ) as stream:
        async for event in stream:
            names.append(event.event)
        text = await stream.get_final_messages()
    assert names[-1] == "thread.run.completed"
    assert text[0].content[0].text.value == "Echo: async stream"  # type: ignore[union-attr]


def _raw_stream(http: httpx.Client, path: str, body: dict[str, Any]) -> str:
    with http.stream("POST", path, json=body | {"stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return response.read().decode()


def test_raw_sse_framing_and_every_event_matches_the_spec(
    http: httpx.Client, client: openai.OpenAI, assistant: Any
) -> None:
    body = {
        "assistant_id": assistant.id,
        "thread": {"messages": [{"role": "user", "content": "raw"}]},
    }
    raw = _raw_stream(http, "threads/runs", body)
    assert raw.endswith("event: done\ndata: [DONE]\n\n")
    frames = parse_sse(raw)
    for event, data in frames[:-1]:
        validate_stream_event(event, json.loads(data))
    validate_stream_event(*frames[-1])
    deltas = [json.loads(d) for e, d in frames if e == "thread.message.delta"]
    assert all(p["index"] == 0 for d in deltas for p in d["delta"]["content"])
    text = "".join(p["text"]["value"] for d in deltas for p in d["delta"]["content"])
    thread_id = json.loads(frames[0][1])["id"]
    stored = client.beta.threads.messages.list(thread_id).data[0]
    assert stored.content[0].text.value == text == "Echo: raw"  # type: ignore[union-attr]


def _step_deltas(
    http: httpx.Client, assistant_id: str, content: str
) -> tuple[list[tuple[str, str]], list[Any]]:
    """The frames and step deltas of a streamed thread-and-run on `content`, every event
    of its stream checked against the spec."""
    body = {
        "assistant_id": assistant_id,
        "thread": {"messages": [{"role": "user", "content": content}]},
    }
    frames = parse_sse(_raw_stream(http, "threads/runs", body))
    for event, data in frames[:-1]:
        validate_stream_event(event, json.loads(data))
    return frames, [json.loads(d)["delta"] for e, d in frames if e == "thread.run.step.delta"]


def test_tool_call_deltas_match_the_spec(http: httpx.Client, assistant: Any) -> None:
    content = 'call:get_weather({"city": "Quito", "unit": "celsius"})'
    frames, deltas = _step_deltas(http, assistant.id, content)
    calls = [c for d in deltas for c in d["step_details"]["tool_calls"]]
    assert all(c["index"] == 0 for c in calls)
    assert "id" in calls[0]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {
        "city": "Quito",
        "unit": "celsius",
    }
    assert [e for e, _ in frames[-2:]] == ["thread.run.requires_action", "done"]


@pytest.fixture
def slow_server(
    databases: Databases, server_factory: ServerFactory
) -> Iterator[tuple[Server, FakeUpstream]]:
    with FakeUpstream(tokens_per_second=20) as slow:
        env = {
            "THREADLINE_MODEL_BASE_URL": slow.base_url,
            "THREADLINE_STREAM_KEEPALIVE_SECONDS": "0.2",
        }
        yield server_factory(databases.new(), env=env), slow


def test_a_client_that_disconnects_does_not_stop_the_run(
    slow_server: tuple[Server, FakeUpstream],
) -> None:
    server, _ = slow_server
    words = " ".join(f"w{i}" for i in range(30))
    with sdk_client(server.base_url) as client:
        assistant = client.beta.assistants.create(model="fake-model")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": words}])
        with httpx.Client(base_url=server.base_url + "/", timeout=30) as http:
            body = {"assistant_id": assistant.id, "stream": True}
            with http.stream("POST", f"threads/{thread.id}/runs", json=body) as response:
                for line in response.iter_lines():
                    if line == "event: thread.message.delta":
                        break
        run = client.beta.threads.runs.list(thread.id).data[0]
        done = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
        assert done.status == "completed"
        message = client.beta.threads.messages.list(thread.id).data[0]
        assert message.status == "completed"
        assert message.content[0].text.value == f"Echo: {words}"  # type: ignore[union-attr]


def test_keepalive_comments_during_silence(
    slow_server: tuple[Server, FakeUpstream],
) -> None:
    server, slow = slow_server
    slow.enqueue({"text": "late", "delay_ms": 800})
    with sdk_client(server.base_url) as client:
        assistant = client.beta.assistants.create(model="fake-model")
    with httpx.Client(base_url=server.base_url + "/", timeout=30) as http:
        body = {
            "assistant_id": assistant.id,
            "thread": {"messages": [{"role": "user", "content": "x"}]},
        }
        started = time.monotonic()
        raw = _raw_stream(http, "threads/runs", body)
    assert time.monotonic() - started >= 0.8
    assert ": keep-alive" in raw.split("event: thread.message.delta")[0]
    assert parse_sse(raw)[-1] == ("done", "[DONE]")


def test_node_sdk_streaming(server: Server) -> None:
    assert "node streaming: ok" in run_node_script("streaming.mjs", server.base_url)


def test_builtin_tool_call_deltas_match_the_spec(http: httpx.Client, client: openai.OpenAI) -> None:
    requires_sandbox()  # the cell runs: its output is the second delta
    assistant = client.beta.assistants.create(
        model="fake-model", tools=[{"type": "code_interpreter"}]
    )
    content = 'call:code_interpreter({"code": "print(6 * 7)"})'
    frames, deltas = _step_deltas(http, assistant.id, content)
    [started] = deltas[0]["step_details"]["tool_calls"]
    assert started["type"] == "code_interpreter"
    assert started["code_interpreter"]["input"] == "print(6 * 7)"
    [finished] = deltas[1]["step_details"]["tool_calls"]
    assert finished["code_interpreter"]["outputs"][0]["type"] == "logs"
    assert frames[-2][0] == "thread.run.completed"
