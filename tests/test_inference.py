"""`OpenAIModelClient` against scripted upstreams: aiohttp servers on a real socket, whose
replies can also hang, drop the connection or break off mid-stream."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai.types.chat import ChatCompletionChunk

from threadline.inference import ChatRequest, ModelError, OpenAIModelClient

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
# Short, so that a hanging upstream times out at once; the hang outlasts it.
TIMEOUT = 0.2
HANG = 2.0


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


def streaming(*frames: dict[str, Any], end: str = "\n\n", linger: float = 0.0) -> Reply:
    """The events written one by one, in a chunked body, as model servers stream them;
    the body ends `linger` seconds after `[DONE]`."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in frames:
            await response.write(f"data: {json.dumps(frame)}{end}".encode())
        await response.write(f"data: [DONE]{end}".encode())
        await asyncio.sleep(linger)
        await response.write_eof()
        return response

    return reply


def failure(status: int, message: str) -> Reply:
    async def reply(_: web.Request) -> web.StreamResponse:
        error = {"error": {"message": message, "type": "x", "code": None}}
        return web.json_response(error, status=status)

    return reply


def answer(status: int, body: bytes, content_type: str = "application/json") -> Reply:
    async def reply(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type)

    return reply


async def hang(_: web.Request) -> web.StreamResponse:
    """No answer within the client's timeout."""
    await asyncio.sleep(HANG)
    return web.Response()


async def drop(request: web.Request) -> web.StreamResponse:
    """The connection closed before any answer."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def breaks_mid_stream(request: web.Request) -> web.StreamResponse:
    """One event, then the connection closed with the body unfinished."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(f"data: {json.dumps(TEXT[0])}\n\n".encode())
    assert request.transport is not None
    request.transport.close()
    return response


class Upstream:
    """Serves the queued replies in order (the last one repeats) and records request bodies."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        self.headers.append(dict(request.headers))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return await reply(request)


Serve = Callable[[Upstream], Awaitable[str]]
Connect = Callable[[Upstream], Awaitable[OpenAIModelClient]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Each upstream served on a socket of its own: its base URL."""
    servers: list[TestServer] = []

    async def start(upstream: Upstream) -> str:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await upstream(request)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/v1"))

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def connect(serve: Serve) -> AsyncIterator[Connect]:
    """A client of each upstream."""
    clients: list[OpenAIModelClient] = []

    async def make(upstream: Upstream) -> OpenAIModelClient:
        client = OpenAIModelClient(await serve(upstream), "k", timeout=TIMEOUT, backoff=0.001)
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
    connect: Connect,
) -> None:
    chunks = await collect(await connect(Upstream(streaming(*TEXT, usage_chunk()))))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 5


async def test_streams_tool_call_deltas(connect: Connect) -> None:
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
    chunks = await collect(await connect(Upstream(streaming(*frames))))
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "call_1"
    assert calls[0].function is not None
    assert calls[0].function.name == "lookup"
    assert "".join(call.function.arguments or "" for call in calls if call.function) == '{"q": "x"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_429_is_rate_limit_without_retry(
    connect: Connect,
) -> None:
    upstream = Upstream(failure(429, "slow down"))
    error = await failing(await connect(upstream))
    assert error.code == "rate_limit_exceeded"
    assert error.message == "The model endpoint returned 429: slow down"
    assert len(upstream.bodies) == 1


async def test_500_then_success_is_retried(connect: Connect) -> None:
    upstream = Upstream(failure(500, "oops"), streaming(*TEXT))
    assert len(await collect(await connect(upstream))) == 3
    assert len(upstream.bodies) == 2


async def test_5xx_past_the_retries_is_server_error(
    connect: Connect,
) -> None:
    upstream = Upstream(failure(503, "upstream overloaded"))
    error = await failing(await connect(upstream))
    assert error.code == "server_error"
    assert error.message == "The model endpoint returned 503 after 4 attempts: upstream overloaded"
    assert len(upstream.bodies) == 4


@pytest.mark.parametrize("status", [400, 404, 422, 401])
async def test_4xx_is_invalid_prompt_without_retry(connect: Connect, status: int) -> None:
    upstream = Upstream(failure(status, "bad messages"))
    error = await failing(await connect(upstream))
    assert error.code == "invalid_prompt"
    assert error.message == f"The model endpoint returned {status}: bad messages"
    assert len(upstream.bodies) == 1


async def test_rejected_stream_options_is_retried_without_them(
    connect: Connect,
) -> None:
    upstream = Upstream(failure(400, "Unrecognized field: stream_options"), streaming(*TEXT))
    assert len(await collect(await connect(upstream))) == 3
    assert "stream_options" in upstream.bodies[0]
    assert "stream_options" not in upstream.bodies[1]


async def test_a_dropped_connection_is_retried_then_server_error(connect: Connect) -> None:
    upstream = Upstream(drop)
    error = await failing(await connect(upstream))
    assert error.code == "server_error"
    assert error.message.startswith("Could not reach the model endpoint after 4 attempts: ")
    assert len(upstream.bodies) == 4


async def test_an_endpoint_nobody_serves_is_server_error() -> None:
    with socket.socket() as sock:  # a port bound, never listened on: connections refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        client = OpenAIModelClient(f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.001)
        try:
            error = await failing(client)
        finally:
            await client.close()
    assert error.code == "server_error"
    assert error.message.startswith("Could not reach the model endpoint after 2 attempts: ")
    assert str(port) in error.message


async def test_read_timeout_is_retried(connect: Connect) -> None:
    upstream = Upstream(hang, streaming(*TEXT))
    assert len(await collect(await connect(upstream))) == 3
    upstream = Upstream(hang)
    error = await failing(await connect(upstream))
    assert (error.code, error.message) == (
        "server_error",
        "The model endpoint timed out after 4 attempts",
    )


async def test_failure_mid_stream_is_server_error_without_retry(connect: Connect) -> None:
    upstream = Upstream(breaks_mid_stream, streaming(*TEXT))
    client = await connect(upstream)
    received: list[ChatCompletionChunk] = []

    async def drain() -> None:
        async for part in client.stream(REQUEST):
            received.append(part)

    with pytest.raises(ModelError) as caught:
        await drain()
    assert len(received) == 1
    assert caught.value.code == "server_error"
    assert caught.value.message.startswith("The model stream failed after 1 chunks")
    assert len(upstream.bodies) == 1


async def test_a_stream_that_stops_sending_times_out_mid_stream(connect: Connect) -> None:
    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"data: {json.dumps(TEXT[0])}\n\n".encode())
        await asyncio.sleep(HANG)
        return response

    error = await failing(await connect(Upstream(stalls)))
    assert error.code == "server_error"
    assert error.message.startswith("The model stream failed after 1 chunks")


@pytest.mark.parametrize("end", ["\r\n\r\n", "\r\r", "\n\n"])
async def test_any_line_ending_frames_the_events(connect: Connect, end: str) -> None:
    chunks = await collect(await connect(Upstream(streaming(*TEXT, end=end))))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"


async def test_connections_are_kept_between_calls(connect: Connect) -> None:
    """The end of each body is read (even when it comes a little after `[DONE]`), so the
    next call reuses the connection."""
    peers: set[object] = set()
    streamed = streaming(*TEXT, linger=0.02)
    whole = completion({"role": "assistant", "content": "Hi"})

    async def reply(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return await (streamed if (await request.json())["stream"] else whole)(request)

    client = await connect(Upstream(reply))
    for _ in range(3):
        await collect(client)
        await collect(client, WHOLE)
    assert len(peers) == 1


async def test_the_request_carries_the_key_and_json(connect: Connect) -> None:
    upstream = Upstream(streaming(*TEXT))
    await collect(await connect(upstream))
    headers = upstream.headers[0]
    assert headers["Authorization"] == "Bearer k"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b"upstream exploded", "text/plain", "upstream exploded"),
        (b"", "text/plain", "Error code: 502"),
        (b'{"detail": "no"}', "application/json", "Error code: 502 - {'detail': 'no'}"),
        (b'{"message": "flat"}', "application/json", "flat"),
    ],
)
async def test_an_error_body_says_what_it_can(
    connect: Connect, body: bytes, content_type: str, detail: str
) -> None:
    client = await connect(Upstream(answer(502, body, content_type)))
    error = await failing(client)
    assert error.message == f"The model endpoint returned 502 after 4 attempts: {detail}"


async def test_unset_parameters_stay_off_the_wire(
    connect: Connect,
) -> None:
    upstream = Upstream(streaming(*TEXT))
    await collect(
        await connect(upstream),
        ChatRequest(model="m", messages=REQUEST.messages, parallel_tool_calls=True),
    )
    assert upstream.bodies[0] == {
        "model": "m",
        "messages": REQUEST.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_set_parameters_reach_the_wire(
    connect: Connect,
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
    await collect(await connect(upstream), request)
    body = upstream.bodies[0]
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert (body["temperature"], body["top_p"]) == (0.5, 0.9)
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_completion_tokens"] == 64


async def test_chunks_from_a_less_strict_upstream_are_still_read(
    connect: Connect,
) -> None:
    """Some servers leave out `created`, `model` or `object`; the chunk is built anyway."""
    sparse = {"id": "x", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    [only] = await collect(await connect(Upstream(streaming(sparse))))
    assert only.choices[0].delta.content == "Hi"


# A run nobody streams asks for the whole completion: the same chunks, from one response.
WHOLE = ChatRequest(model="m", messages=REQUEST.messages, stream=False)


def completion(message: dict[str, Any], finish: str = "stop") -> Reply:
    choice = {"index": 0, "message": message, "finish_reason": finish}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m"}
    return answer(200, json.dumps(body | {"choices": [choice], "usage": usage}).encode())


async def test_whole_completion_comes_as_chunks(
    connect: Connect,
) -> None:
    upstream = Upstream(completion({"role": "assistant", "content": "Hello"}))
    chunks = await collect(await connect(upstream), WHOLE)
    assert upstream.bodies[0]["stream"] is False
    assert "stream_options" not in upstream.bodies[0]
    assert chunks[0].choices[0].delta.content == "Hello"
    assert chunks[0].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 5


async def test_whole_completion_tool_calls_come_indexed(
    connect: Connect,
) -> None:
    calls = [
        {"id": f"up{i}", "type": "function", "function": {"name": f"f{i}", "arguments": "{}"}}
        for i in range(2)
    ]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    chunks = await collect(await connect(Upstream(completion(message, "tool_calls"))), WHOLE)
    deltas = chunks[0].choices[0].delta.tool_calls or []
    assert [(d.index, d.function and d.function.name) for d in deltas] == [(0, "f0"), (1, "f1")]
    assert chunks[0].choices[0].finish_reason == "tool_calls"


async def test_whole_completion_failures_map_as_a_streams(
    connect: Connect,
) -> None:
    upstream = Upstream(failure(500, "busy"), completion({"role": "assistant", "content": "ok"}))
    assert (await collect(await connect(upstream), WHOLE))[0].choices[0].delta.content == "ok"
    error = await failing(await connect(Upstream(failure(429, "slow down"))), WHOLE)
    assert (error.code, error.message) == (
        "rate_limit_exceeded",
        "The model endpoint returned 429: slow down",
    )
    error = await failing(await connect(Upstream(failure(400, "bad"))), WHOLE)
    assert error.code == "invalid_prompt"
    error = await failing(
        await connect(Upstream(answer(200, b'{"error": {"message": "x"}}'))), WHOLE
    )
    assert (error.code, error.message) == (
        "server_error",
        "The model stream failed after 0 chunks: x",
    )


async def test_whole_completion_timeout_is_asked_again_streamed(
    connect: Connect,
) -> None:
    """A long answer that the timeout cuts short whole still streams within it."""
    upstream = Upstream(hang, streaming(*TEXT))
    assert len(await collect(await connect(upstream), WHOLE)) == 3
    assert [body["stream"] for body in upstream.bodies] == [False, True]
    upstream = Upstream(hang)
    error = await failing(await connect(upstream), WHOLE)
    assert (error.code, error.message) == (
        "server_error",
        "The model endpoint timed out after 4 attempts",
    )
    assert len(upstream.bodies) == 4


async def test_a_whole_answer_that_is_not_json_is_server_error(connect: Connect) -> None:
    error = await failing(await connect(Upstream(answer(200, b"<html>"))), WHOLE)
    assert error.code == "server_error"
    assert error.message.startswith("The model stream failed after 0 chunks: ")


async def test_the_environments_proxy_carries_the_calls(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY (read when the client is made) is where the calls go; NO_PROXY exempts."""
    upstream = Upstream(streaming(*TEXT))
    proxy = await serve(upstream)  # it answers whichever URL it is asked for
    monkeypatch.setenv("HTTP_PROXY", proxy.removesuffix("/v1"))
    monkeypatch.setenv("NO_PROXY", "exempt.invalid")
    client = OpenAIModelClient("http://model.invalid/v1", max_retries=0)
    exempt = OpenAIModelClient("http://exempt.invalid/v1", max_retries=0)
    try:
        assert len(await collect(client)) == 3
        assert upstream.headers[0]["Host"] == "model.invalid"
        error = await failing(exempt)
    finally:
        await client.close()
        await exempt.close()
    assert error.message.startswith("Could not reach the model endpoint: ")


async def test_integers_past_64_bits_reach_the_wire_as_given(connect: Connect) -> None:
    """A client's budget or a function's schema may hold one (orjson refuses them)."""
    upstream = Upstream(streaming(*TEXT))
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10**30}}}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    request = ChatRequest(
        model="m", messages=REQUEST.messages, tools=[tool], max_completion_tokens=10**20
    )
    await collect(await connect(upstream), request)
    body = upstream.bodies[0]
    assert body["max_completion_tokens"] == 10**20
    assert body["tools"] == [tool]
