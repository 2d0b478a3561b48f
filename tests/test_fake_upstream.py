"""The fake upstream, driven through a real socket by the official `openai` SDK."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from threadline.fake_upstream import FakeUpstream, main
from threadline.inference import ChatRequest, ModelError, OpenAIModelClient


def tool(name: str) -> Any:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def user(content: Any) -> Any:
    return {"role": "user", "content": content}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: FakeUpstream) -> FakeUpstream:
    server.reset()
    return server


@pytest.fixture
def client(upstream: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=upstream.base_url, api_key="k", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def aclient(upstream: FakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=0) as sdk:
        yield sdk


def streamed_text(client: openai.OpenAI, messages: list[Any]) -> str:
    stream = client.chat.completions.create(model="m", messages=messages, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_text_is_streamed_word_by_word_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="fake",
        messages=[user("hello there")],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Echo: hello there"
    )
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 3
    assert {(c.object, c.model) for c in chunks} == {("chat.completion.chunk", "fake")}
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 3)


def test_user_content_parts_are_read(client: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": "one"}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert streamed_text(client, [user(parts)]) == "Echo: one"


async def test_directive_becomes_a_tool_call(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(
        model="m",
        messages=[user('Please call:get_weather({"city": "Paris"})')],
        tools=[tool("get_weather")],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


async def test_several_directives_stream_parallel_tool_calls(aclient: openai.AsyncOpenAI) -> None:
    text = 'call:a({"x": [1, 2]}) and call:b({}) but not call:c({})'
    stream = await aclient.chat.completions.create(
        model="m", messages=[user(text)], tools=[tool("a"), tool("b")], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            assert delta.function is not None
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("a", {"x": [1, 2]}),
        ("b", {}),
    ]
    assert all(c["id"].startswith("call_") for c in calls.values())


def test_directive_without_a_matching_tool_is_echoed(client: openai.OpenAI) -> None:
    assert streamed_text(client, [user("call:nope({})")]) == "Echo: call:nope({})"


def test_tool_results_are_answered(client: openai.OpenAI) -> None:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in (1, 2)
    ]
    messages = [
        user("go"),
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "22C"},
    ]
    assert streamed_text(client, messages) == "Tool said: sunny; 22C"


def test_script_is_served_in_order_then_rules(
    upstream: FakeUpstream, client: openai.OpenAI
) -> None:
    upstream.enqueue({"text": "first"})
    with httpx.Client(base_url=upstream.base_url.removesuffix("/v1")) as http:
        script = {
            "responses": [{"text": "second", "finish_reason": "length", "completion_tokens": 9}]
        }
        assert http.post("/_fake/script", json=script).status_code == 200
        assert http.post("/_fake/script", json={"responses": [{"bogus": 1}]}).status_code == 400
    assert streamed_text(client, [user("x")]) == "first"
    completion = client.chat.completions.create(model="m", messages=[user("x")])
    assert completion.choices[0].message.content == "second"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 9
    assert streamed_text(client, [user("x")]) == "Echo: x"


def test_scripted_tool_calls_come_with_text(upstream: FakeUpstream, client: openai.OpenAI) -> None:
    upstream.enqueue(
        {"text": "Let me look.", "tool_calls": [{"name": "f", "arguments": '{"a": 1}'}]}
    )
    message = client.chat.completions.create(model="m", messages=[user("x")]).choices[0].message
    assert message.content == "Let me look."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert call.function.arguments == '{"a": 1}'


async def test_scripted_errors_surface_as_sdk_errors(
    upstream: FakeUpstream, aclient: openai.AsyncOpenAI
) -> None:
    upstream.enqueue({"error": {"status": 500, "message": "boom"}}, {"error": {"status": 429}})
    with pytest.raises(openai.InternalServerError, match="boom"):
        await aclient.chat.completions.create(model="m", messages=[user("x")], stream=True)
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="m", messages=[user("x")])


def test_history_records_bodies_and_reset_clears(
    upstream: FakeUpstream, client: openai.OpenAI
) -> None:
    upstream.enqueue({"text": "unused"})
    streamed_text(client, [user("remember me")])
    assert upstream.history[0]["messages"] == [user("remember me")]
    with httpx.Client(base_url=upstream.base_url.removesuffix("/v1")) as http:
        assert http.get("/_fake/requests").json() == upstream.history
        assert http.post("/_fake/reset").status_code == 200
    assert upstream.history == []
    assert streamed_text(client, [user("y")]) == "Echo: y"  # the script was cleared too


def test_models_are_listed(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["fake-model"]


def test_latency_delays_the_first_chunk() -> None:
    with (
        FakeUpstream(latency_ms=200, tokens_per_second=1000) as slow,
        openai.OpenAI(base_url=slow.base_url, api_key="k") as sdk,
    ):
        started = time.monotonic()
        stream = sdk.chat.completions.create(model="m", messages=[user("x")], stream=True)
        next(iter(stream))
        assert time.monotonic() - started >= 0.2
        stream.close()


def test_base_url_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeUpstream().base_url


def test_cli_help_names_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--tokens-per-second" in capsys.readouterr().out


@pytest.fixture
async def model_client(upstream: FakeUpstream) -> AsyncIterator[OpenAIModelClient]:
    client = OpenAIModelClient(upstream.base_url, "k", max_retries=1, backoff=0.001)
    yield client
    await client.close()


async def test_model_client_streams_from_the_fake(
    upstream: FakeUpstream, model_client: OpenAIModelClient
) -> None:
    upstream.enqueue({"error": {"status": 503, "message": "warming up"}}, {"text": "hi there"})
    chunks = [chunk async for chunk in model_client.stream(ChatRequest("m", [user("x")]))]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi there"
    assert chunks[-1].usage is not None
    assert len(upstream.history) == 2


async def test_model_client_maps_the_fakes_errors(
    upstream: FakeUpstream, model_client: OpenAIModelClient
) -> None:
    upstream.enqueue(*[{"error": {"status": 503, "message": "down"}}] * 2)
    with pytest.raises(ModelError) as caught:
        _ = [chunk async for chunk in model_client.stream(ChatRequest("m", [user("x")]))]
    assert caught.value.code == "server_error"
    assert caught.value.message == "The model endpoint returned 503 after 2 attempts: down"
