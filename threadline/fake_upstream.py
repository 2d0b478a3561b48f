"""A scripted fake OpenAI-compatible chat-completions server, for end-to-end tests and benchmarks.

Replies come from a FIFO script (`enqueue()` or `POST /_fake/script`) or, when the script is
empty, from deterministic rules: a trailing tool result is answered "Tool said: ...", a user
directive `call:NAME({...})` naming a request tool becomes a tool call, anything else is echoed.

    python -m threadline.fake_upstream --port 9999 --latency-ms 100 --tokens-per-second 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from threadline.fake_embeddings import embeddings_route

__all__ = ["FakeUpstream", "FakeUpstreamApp", "main"]

_DIRECTIVE = re.compile(r"call:([A-Za-z0-9_.-]+)\(")
_WORD_START = re.compile(r"(?<=\s)(?=\S)")
_ERROR_TYPES = {429: "rate_limit_exceeded", 401: "authentication_error"}


@dataclass(frozen=True)
class _Reply:
    text: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, JSON arguments)
    error: tuple[int, str] | None = None
    finish_reason: str | None = None
    delay_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _parse_reply(spec: Any) -> _Reply:
    """One scripted response from its JSON form; `ValueError` says what is wrong with it."""
    if not isinstance(spec, dict) or not {"text", "tool_calls", "error"} & spec.keys():
        raise ValueError(f"a scripted response needs text, tool_calls or error: {spec!r}")
    try:
        error = spec.get("error")
        calls = [
            (str(c["name"]), str(c.get("arguments", "{}"))) for c in spec.get("tool_calls", [])
        ]
        return _Reply(
            text=str(spec.get("text", "")),
            tool_calls=calls,
            error=(int(error.get("status", 500)), str(error.get("message", ""))) if error else None,
            finish_reason=spec.get("finish_reason"),
            delay_ms=float(spec.get("delay_ms", 0)),
            prompt_tokens=spec.get("prompt_tokens"),
            completion_tokens=spec.get("completion_tokens"),
        )
    except (AttributeError, KeyError, TypeError) as err:
        raise ValueError(f"malformed scripted response {spec!r}: {err}") from err


def _text_of(content: Any) -> str:
    """A message's text: the string itself, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return " ".join(parts)
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _directives(text: str) -> Iterator[tuple[str, str]]:
    """The `call:NAME({...})` directives in `text`, as (name, JSON arguments)."""
    decoder = json.JSONDecoder()
    for match in _DIRECTIVE.finditer(text):
        try:
            args, end = decoder.raw_decode(text, match.end())
        except json.JSONDecodeError:
            continue
        if isinstance(args, dict) and text[end : end + 1] == ")":
            yield match.group(1), json.dumps(args)


def _rule_reply(body: dict[str, Any]) -> _Reply:
    messages: list[dict[str, Any]] = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        results: list[str] = []
        for message in reversed(messages):
            if message.get("role") == "assistant":
                break
            if message.get("role") == "tool":
                results.insert(0, _text_of(message.get("content")))
        return _Reply(text="Tool said: " + "; ".join(results))
    users = [m for m in messages if m.get("role") == "user"]
    text = _text_of(users[-1].get("content")) if users else ""
    tools = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    calls = [(name, args) for name, args in _directives(text) if name in tools]
    return _Reply(tool_calls=calls) if calls else _Reply(text="Echo: " + text)


class _Completion:
    """One reply rendered in OpenAI's wire shapes: streamed chunks or a whole completion."""

    def __init__(self, reply: _Reply, body: dict[str, Any]) -> None:
        self.reply = reply
        self.model = str(body.get("model", "fake-model"))
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.calls = [(f"call_{uuid.uuid4().hex[:24]}", *call) for call in reply.tool_calls]
        self.finish_reason = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        messages = body.get("messages") or []
        prompt = sum(_words(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
        completion = _words(reply.text) + sum(_words(args) for _, args in reply.tool_calls)
        prompt = prompt if reply.prompt_tokens is None else reply.prompt_tokens
        completion = completion if reply.completion_tokens is None else reply.completion_tokens
        self.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _envelope(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._envelope("chat.completion.chunk", [choice])

    def token_chunks(self) -> Iterator[dict[str, Any]]:
        """The role chunk, then text word by word, then each tool call as OpenAI streams it."""
        yield self.chunk({"role": "assistant", "content": "" if self.reply.text else None})
        for word in _WORD_START.split(self.reply.text) if self.reply.text else []:
            yield self.chunk({"content": word})
        for index, (call_id, name, args) in enumerate(self.calls):
            function = {"name": name, "arguments": ""}
            yield self._tool_delta(
                {"index": index, "id": call_id, "type": "function", "function": function}
            )
            for start in range(0, len(args), 8):
                yield self._tool_delta(
                    {"index": index, "function": {"arguments": args[start : start + 8]}}
                )

    def _tool_delta(self, call: dict[str, Any]) -> dict[str, Any]:
        return self.chunk({"tool_calls": [call]})

    def finish_chunk(self) -> dict[str, Any]:
        return self.chunk({}, self.finish_reason)

    def usage_chunk(self) -> dict[str, Any]:
        return self._envelope("chat.completion.chunk", []) | {"usage": self.usage}

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.text or None}
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
                for call_id, name, args in self.calls
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }
        return self._envelope("chat.completion", [choice]) | {"usage": self.usage}


def _error_response(status: int, message: str) -> JSONResponse:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    error = {"message": message, "type": kind, "param": None, "code": None}
    return JSONResponse({"error": error}, status_code=status)


def _sse(frame: dict[str, Any]) -> str:
    return f"data: {json.dumps(frame)}\n\n"


class FakeUpstreamApp:
    """The fake as an ASGI app. Thread-safe: tests script it while uvicorn serves it elsewhere."""

    def __init__(self, *, latency_ms: float = 0.0, tokens_per_second: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.tokens_per_second = tokens_per_second
        self._lock = threading.Lock()
        self._script: deque[_Reply] = deque()
        self._history: list[dict[str, Any]] = []
        self._app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", embeddings_route, methods=["POST"]),
                Route("/_fake/script", self._script_route, methods=["POST"]),
                Route("/_fake/requests", self._requests_route, methods=["GET"]),
                Route("/_fake/reset", self._reset_route, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def enqueue(self, *responses: dict[str, Any]) -> None:
        """Append scripted responses (the `POST /_fake/script` shapes), served FIFO."""
        replies = [_parse_reply(spec) for spec in responses]
        with self._lock:
            self._script.extend(replies)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every chat-completions request body received, oldest first."""
        with self._lock:
            return list(self._history)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._history.clear()

    def _next_reply(self, body: dict[str, Any]) -> _Reply:
        with self._lock:
            self._history.append(body)
            return self._script.popleft() if self._script else _rule_reply(body)

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error_response(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error_response(400, "The request body must be a JSON object.")
        reply = self._next_reply(body)
        await asyncio.sleep((self.latency_ms + reply.delay_ms) / 1000)
        if reply.error is not None:
            return _error_response(*reply.error)
        completion = _Completion(reply, body)
        if not body.get("stream"):
            # As long as the same answer takes to stream: a token every interval after the
            # first.
            if self.tokens_per_second > 0:
                tokens = sum(1 for _ in completion.token_chunks())
                await asyncio.sleep((tokens - 1) / self.tokens_per_second)
            return JSONResponse(completion.whole())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._stream(completion, include_usage), media_type="text/event-stream"
        )

    async def _stream(self, completion: _Completion, include_usage: bool) -> AsyncIterator[str]:
        interval = 1 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        for index, frame in enumerate(completion.token_chunks()):
            if index and interval:
                await asyncio.sleep(interval)
            yield _sse(frame)
        yield _sse(completion.finish_chunk())
        if include_usage:
            yield _sse(completion.usage_chunk())
        yield "data: [DONE]\n\n"

    async def _models(self, request: Request) -> JSONResponse:
        model = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "threadline"}
        return JSONResponse({"object": "list", "data": [model]})

    async def _script_route(self, request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
            self.enqueue(*payload["responses"])
        except (ValueError, KeyError, TypeError) as err:
            return _error_response(400, f"Bad script: {err}")
        return JSONResponse({"queued": len(self._script)})

    async def _requests_route(self, request: Request) -> JSONResponse:
        return JSONResponse(self.history)

    async def _reset_route(self, request: Request) -> JSONResponse:
        self.reset()
        return JSONResponse({"reset": True})


class FakeUpstream:
    """Serves a `FakeUpstreamApp` with uvicorn on a free 127.0.0.1 port in a background thread."""

    def __init__(
        self,
        app: FakeUpstreamApp | None = None,
        *,
        latency_ms: float = 0.0,
        tokens_per_second: float = 0.0,
    ) -> None:
        self.app = app or FakeUpstreamApp(
            latency_ms=latency_ms, tokens_per_second=tokens_per_second
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, `http://127.0.0.1:PORT/v1`."""
        if self._server is None:
            raise RuntimeError("the fake upstream is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self, timeout: float = 10.0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._serve, args=(self._server, sock), name="fake-upstream", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.01)
        return self

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        with sock:
            server.run(sockets=[sock])

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def enqueue(self, *responses: dict[str, Any]) -> None:
        self.app.enqueue(*responses)

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.app.history

    def reset(self) -> None:
        self.app.reset()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m threadline.fake_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before the first token"
    )
    parser.add_argument("--tokens-per-second", type=float, default=0.0, help="0 = unthrottled")
    args = parser.parse_args(argv)
    app = FakeUpstreamApp(latency_ms=args.latency_ms, tokens_per_second=args.tokens_per_second)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
