"""`OpenAIModelClient` against `httpx2.MockTransport` upstreams (the SDK's HTTP client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx2
import pytest
from openai.types.chat import ChatCompletionChunk

from threadline.inference import ChatRequest, ModelError, OpenAIModelClient

Handler = Callable[[httpx2.Request], Coroutine[None, None, httpx2.Response]]
REQUEST = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
    }


def usage_chunk() -> dict[str, Any]:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": usage,
    }


TEXT = [chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")]


def sse(*frames: dict[str, Any]) -> bytes:
    body = "".join(f"data: {json.dumps(frame)}\n\n" for frame in frames)
    return (body + "data: [DONE]\n\n").encode()


def streaming(*frames: dict[str, Any]) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse(*frames))


def failure(status: int, message: str) -> httpx2.Response:
    return httpx2.Response(status, json={"error": {"message": message, "type": "x", "code": None}})


class Upstream:
    """Serves the queued responses in order (the last one repeats) and records request bodies."""

    def __init__(self, *responses: httpx2.Response | Exception) -> None:
        self.responses = list(responses)
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.content))
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        return response


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[Handler], OpenAIModelClient]]:
    clients: list[OpenAIModelClient] = []

    def make(handler: Handler) -> OpenAIModelClient:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = OpenAIModelClient("http://model.test/v1", "k", backoff=0.001, http_client=http)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def collect(
    client: OpenAIModelClient, request: ChatRequest = REQUEST
) -> list[ChatCompletionChunk]:
    return [part async for part in client.stream(request)]


async def failing(client: OpenAIModelClient, request: ChatRequest = REQUEST) -> ModelError:
    with pytest.raises(ModelError) as caught:
        await collect(client, request)
    return caught.value


async def test_streams_text_chunks_and_usage(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    chunks = await collect(connect(Upstream(streaming(*TEXT, usage_chunk()))))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 5


async def test_streams_tool_call_deltas(connect: Callable[[Handler], OpenAIModelClient]) -> None:
    first = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": ""},
    }
    frames = [
        chunk({"role": "assistant", "tool_calls": [first]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
        chunk({}, "tool_calls"),
    ]
    chunks = await collect(connect(Upstream(streaming(*frames))))
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "call_1"
    assert calls[0].function is not None
    assert calls[0].function.name == "lookup"
    assert "".join(call.function.arguments or "" for call in calls if call.function) == '{"q": "x"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_429_is_rate_limit_without_retry(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(failure(429, "slow down"))
    error = await failing(connect(upstream))
    assert error.code == "rate_limit_exceeded"
    assert error.message == "The model endpoint returned 429: slow down"
    assert len(upstream.bodies) == 1


async def test_500_then_success_is_retried(connect: Callable[[Handler], OpenAIModelClient]) -> None:
    upstream = Upstream(failure(500, "oops"), streaming(*TEXT))
    assert len(await collect(connect(upstream))) == 3
    assert len(upstream.bodies) == 2


async def test_5xx_past_the_retries_is_server_error(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(failure(503, "upstream overloaded"))
    error = await failing(connect(upstream))
    assert error.code == "server_error"
    assert error.message == "The model endpoint returned 503 after 4 attempts: upstream overloaded"
    assert len(upstream.bodies) == 4


@pytest.mark.parametrize("status", [400, 404, 422, 401])
async def test_4xx_is_invalid_prompt_without_retry(
    connect: Callable[[Handler], OpenAIModelClient], status: int
) -> None:
    upstream = Upstream(failure(status, "bad messages"))
    error = await failing(connect(upstream))
    assert error.code == "invalid_prompt"
    assert error.message == f"The model endpoint returned {status}: bad messages"
    assert len(upstream.bodies) == 1


async def test_rejected_stream_options_is_retried_without_them(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(failure(400, "Unrecognized field: stream_options"), streaming(*TEXT))
    assert len(await collect(connect(upstream))) == 3
    assert "stream_options" in upstream.bodies[0]
    assert "stream_options" not in upstream.bodies[1]


async def test_connection_error_is_retried_then_server_error(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(httpx2.ConnectError("connection refused"))
    error = await failing(connect(upstream))
    assert error.code == "server_error"
    assert (
        error.message == "Could not reach the model endpoint after 4 attempts: connection refused"
    )
    assert len(upstream.bodies) == 4


async def test_read_timeout_is_retried(connect: Callable[[Handler], OpenAIModelClient]) -> None:
    upstream = Upstream(httpx2.ReadTimeout("slow"), streaming(*TEXT))
    assert len(await collect(connect(upstream))) == 3
    upstream = Upstream(httpx2.ReadTimeout("slow"))
    error = await failing(connect(upstream))
    assert (error.code, error.message) == (
        "server_error",
        "The model endpoint timed out after 4 attempts",
    )


class BreaksMidStream(httpx2.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield f"data: {json.dumps(TEXT[0])}\n\n".encode()
        raise httpx2.ReadError("connection reset")


async def test_failure_mid_stream_is_server_error_without_retry(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    broken = httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, stream=BreaksMidStream()
    )
    upstream = Upstream(broken, streaming(*TEXT))
    received: list[ChatCompletionChunk] = []

    async def drain() -> None:
        async for part in connect(upstream).stream(REQUEST):
            received.append(part)

    with pytest.raises(ModelError) as caught:
        await drain()
    assert len(received) == 1
    assert caught.value.code == "server_error"
    assert caught.value.message.startswith("The model stream failed after 1 chunks")
    assert len(upstream.bodies) == 1


async def test_unset_parameters_stay_off_the_wire(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(streaming(*TEXT))
    await collect(
        connect(upstream),
        ChatRequest(model="m", messages=REQUEST.messages, parallel_tool_calls=True),
    )
    assert upstream.bodies[0] == {
        "model": "m",
        "messages": REQUEST.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_set_parameters_reach_the_wire(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(streaming(*TEXT))
    request = ChatRequest(
        model="m",
        messages=REQUEST.messages,
        tools=[TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0.5,
        top_p=0.9,
        response_format={"type": "json_object"},
        max_completion_tokens=64,
    )
    await collect(connect(upstream), request)
    body = upstream.bodies[0]
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert (body["temperature"], body["top_p"]) == (0.5, 0.9)
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_completion_tokens"] == 64


async def test_chunks_from_a_less_strict_upstream_are_still_read(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    """Some servers leave out `created`, `model` or `object`; the chunk is built anyway."""
    sparse = {"id": "x", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    [only] = await collect(connect(Upstream(streaming(sparse))))
    assert only.choices[0].delta.content == "Hi"


# A run nobody streams asks for the whole completion: the same chunks, from one response.
WHOLE = ChatRequest(model="m", messages=REQUEST.messages, stream=False)


def completion(message: dict[str, Any], finish: str = "stop") -> httpx2.Response:
    choice = {"index": 0, "message": message, "finish_reason": finish}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m"}
    return httpx2.Response(200, json=body | {"choices": [choice], "usage": usage})


async def test_whole_completion_comes_as_chunks(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(completion({"role": "assistant", "content": "Hello"}))
    chunks = await collect(connect(upstream), WHOLE)
    assert upstream.bodies[0]["stream"] is False
    assert "stream_options" not in upstream.bodies[0]
    assert chunks[0].choices[0].delta.content == "Hello"
    assert chunks[0].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 5


async def test_whole_completion_tool_calls_come_indexed(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    calls = [
        {"id": f"up{i}", "type": "function", "function": {"name": f"f{i}", "arguments": "{}"}}
        for i in range(2)
    ]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    chunks = await collect(connect(Upstream(completion(message, "tool_calls"))), WHOLE)
    deltas = chunks[0].choices[0].delta.tool_calls or []
    assert [(d.index, d.function and d.function.name) for d in deltas] == [(0, "f0"), (1, "f1")]
    assert chunks[0].choices[0].finish_reason == "tool_calls"


async def test_whole_completion_failures_map_as_a_streams(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    upstream = Upstream(failure(500, "busy"), completion({"role": "assistant", "content": "ok"}))
    assert (await collect(connect(upstream), WHOLE))[0].choices[0].delta.content == "ok"
    error = await failing(connect(Upstream(failure(429, "slow down"))), WHOLE)
    assert (error.code, error.message) == (
        "rate_limit_exceeded",
        "The model endpoint returned 429: slow down",
    )
    error = await failing(connect(Upstream(failure(400, "bad"))), WHOLE)
    assert error.code == "invalid_prompt"
    error = await failing(
        connect(Upstream(httpx2.Response(200, json={"error": {"message": "x"}}))), WHOLE
    )
    assert (error.code, error.message) == (
        "server_error",
        "The model stream failed after 0 chunks: x",
    )


async def test_whole_completion_timeout_is_asked_again_streamed(
    connect: Callable[[Handler], OpenAIModelClient],
) -> None:
    """A long answer that the timeout cuts short whole still streams within it."""
    upstream = Upstream(httpx2.ReadTimeout("slow"), streaming(*TEXT))
    assert len(await collect(connect(upstream), WHOLE)) == 3
    assert [body["stream"] for body in upstream.bodies] == [False, True]
    upstream = Upstream(httpx2.ReadTimeout("slow"))
    error = await failing(connect(upstream), WHOLE)
    assert (error.code, error.message) == (
        "server_error",
        "The model endpoint timed out after 4 attempts",
    )
    assert len(upstream.bodies) == 4
