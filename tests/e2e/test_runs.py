"""Runs and run steps through the official SDK, against a scripted upstream model."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED, Server, run_node_script
from threadline.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(autouse=True)
def fresh_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


@pytest.fixture
def assistant(client: openai.OpenAI) -> Any:
    return client.beta.assistants.create(
        model="fake-model", instructions="You are terse.", tools=[WEATHER], temperature=0.4
    )


def _thread(client: openai.OpenAI, text: str) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def _message(error: openai.APIStatusError) -> str:
    """The error's own message, as OpenAI's envelope carried it."""
    body = error.body
    assert isinstance(body, dict)
    return str(body["message"])


def _texts(client: openai.OpenAI, thread_id: str) -> list[tuple[str, str]]:
    page = client.beta.threads.messages.list(thread_id, order="asc")
    return [(m.role, m.content[0].text.value) for m in page.data if m.content[0].type == "text"]


def test_a_run_answers_and_records_its_step(client: openai.OpenAI, assistant: Any) -> None:
    thread = _thread(client, "hello there")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert run.model == "fake-model"
    assert run.instructions == "You are terse."
    assert run.temperature == 0.4
    assert run.tools[0].type == "function"
    assert run.started_at is not None
    assert run.completed_at is not None
    assert run.expires_at is None
    assert run.usage is not None
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens > 0
    assert _texts(client, thread.id) == [
        ("user", "hello there"),
        ("assistant", "Echo: hello there"),
    ]
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    assert [(s.type, s.status) for s in steps.data] == [("message_creation", "completed")]
    step = steps.data[0]
    assert step.usage is not None
    assert step.usage.total_tokens == run.usage.total_tokens
    message_id = step.step_details.message_creation.message_id  # type: ignore[union-attr]
    message = client.beta.threads.messages.retrieve(message_id, thread_id=thread.id)
    assert (message.run_id, message.assistant_id) == (run.id, assistant.id)
    assert message.status == "completed"


def test_function_calling_round_trip(
    client: openai.OpenAI, assistant: Any, upstream: FakeUpstream
) -> None:
    thread = _thread(client, 'Weather? call:get_weather({"city": "Oslo"})')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.type, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("function", "get_weather", {"city": "Oslo"})
    ]
    assert calls[0].id.startswith("call_")
    assert run.usage is None
    pending = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert (pending.type, pending.status, pending.usage) == ("tool_calls", "in_progress", None)
    assert pending.step_details.tool_calls[0].function.output is None  # type: ignore[union-attr]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "rainy"}],
    )
    assert done.status == "completed"
    assert _texts(client, thread.id)[-1] == ("assistant", "Tool said: rainy")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    assert steps[0].step_details.tool_calls[0].function.output == "rainy"  # type: ignore[union-attr]
    replayed = upstream.history[-1]["messages"]
    assert replayed[-2]["tool_calls"][0]["id"] == calls[0].id
    assert replayed[-1] == {"role": "tool", "tool_call_id": calls[0].id, "content": "rainy"}


def test_parallel_calls_and_malformed_arguments(
    client: openai.OpenAI, assistant: Any, upstream: FakeUpstream
) -> None:
    upstream.enqueue(
        {
            "tool_calls": [
                {"name": "get_weather", "arguments": '{"city": "A"}'},
                {"name": "get_weather", "arguments": "{not json"},
            ]
        }
    )
    thread = _thread(client, "two cities")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.arguments for c in calls] == ['{"city": "A"}', "{not json"]
    assert len({c.id for c in calls}) == 2
    with pytest.raises(openai.BadRequestError, match="Expected tool outputs for call_ids"):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]
        )
    outputs: Any = [{"tool_call_id": c.id, "output": f"out-{i}"} for i, c in enumerate(calls)]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=outputs
    )
    assert done.status == "completed"
    assert _texts(client, thread.id)[-1] == ("assistant", "Tool said: out-0; out-1")


def test_create_thread_and_run_poll(client: openai.OpenAI, assistant: Any) -> None:
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "hi"}], "metadata": {"k": "v"}},
        instructions="Override.",
        metadata={"run": "1"},
    )
    assert run.status == "completed"
    assert run.instructions == "Override."
    assert run.metadata == {"run": "1"}
    thread = client.beta.threads.retrieve(run.thread_id)
    assert thread.metadata == {"k": "v"}
    assert _texts(client, run.thread_id) == [("user", "hi"), ("assistant", "Echo: hi")]


def test_additional_messages_and_instructions(
    client: openai.OpenAI, assistant: Any, upstream: FakeUpstream
) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        additional_instructions="Answer in French.",
        additional_messages=[{"role": "user", "content": "bonjour"}],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert run.status == "completed"
    assert run.instructions == "You are terse.\n\nAnswer in French."
    sent = upstream.history[-1]
    assert sent["messages"][0] == {
        "role": "system",
        "content": "You are terse.\n\nAnswer in French.",
    }
    assert sent["messages"][-1] == {"role": "user", "content": "bonjour"}
    assert sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False
    assert sent["temperature"] == 0.4


def test_thread_lock_and_state_errors(client: openai.OpenAI, assistant: Any) -> None:
    thread = _thread(client, 'call:get_weather({"city": "Rome"})')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError) as busy:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert _message(busy.value) == f"Thread {thread.id} already has an active run {run.id}."
    with pytest.raises(openai.BadRequestError) as locked:
        client.beta.threads.messages.create(thread.id, role="user", content="more")
    assert (
        _message(locked.value)
        == f"Can't add messages to {thread.id} while a run {run.id} is active."
    )
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    cancelled = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled"
    with pytest.raises(openai.BadRequestError) as again:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert _message(again.value) == "Cannot cancel run with status 'cancelled'."
    with pytest.raises(openai.BadRequestError) as late:
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=[])
    assert _message(late.value) == 'Runs in status "cancelled" do not accept tool outputs.'
    client.beta.threads.messages.create(thread.id, role="user", content="the thread is free")


@pytest.mark.parametrize(
    ("status", "code"), [(429, "rate_limit_exceeded"), (400, "invalid_prompt")]
)
def test_upstream_errors_fail_the_run(
    client: openai.OpenAI, assistant: Any, upstream: FakeUpstream, status: int, code: str
) -> None:
    upstream.enqueue({"error": {"status": status, "message": "upstream says no"}})
    thread = _thread(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == code
    assert "upstream says no" in run.last_error.message
    assert run.failed_at is not None


def test_completion_budget_makes_the_run_incomplete(
    client: openai.OpenAI, assistant: Any, upstream: FakeUpstream
) -> None:
    upstream.enqueue({"text": "a long answer", "finish_reason": "length", "completion_tokens": 300})
    thread = _thread(client, "write a lot")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256
    )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert upstream.history[-1]["max_completion_tokens"] == 256
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"


def test_runs_list_retrieve_modify_and_steps(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create()
    ids = []
    for text in ("one", "two", "three"):
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            additional_messages=[{"role": "user", "content": text}],
        )
        ids.append(run.id)
    listed = [r.id for r in client.beta.threads.runs.list(thread.id, limit=2)]
    assert listed == list(reversed(ids))
    first = client.beta.threads.runs.list(thread.id, limit=1, order="asc")
    assert [r.id for r in first.data] == ids[:1]
    assert first.has_more
    updated = client.beta.threads.runs.update(ids[0], thread_id=thread.id, metadata={"x": "y"})
    assert updated.metadata == {"x": "y"}
    assert client.beta.threads.runs.retrieve(ids[0], thread_id=thread.id).metadata == {"x": "y"}
    step = client.beta.threads.runs.steps.list(ids[0], thread_id=thread.id).data[0]
    include: Any = ["step_details.tool_calls[*].file_search.results[*].content"]
    same = client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=ids[0], include=include
    )
    assert same == step
    with pytest.raises(openai.NotFoundError, match=r"No run found with id 'run_nope'\."):
        client.beta.threads.runs.retrieve("run_nope", thread_id=thread.id)


async def test_async_client_runs(async_client: openai.AsyncOpenAI) -> None:
    assistant = await async_client.beta.assistants.create(model="fake-model")
    thread = await async_client.beta.threads.create(messages=[{"role": "user", "content": "async"}])
    run = await async_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "completed"


def test_node_sdk_function_calling(server: Server) -> None:
    assert "node function calling: ok" in run_node_script("function_calling.mjs", server.base_url)
