"""The model endpoint: a one-method `ModelClient` protocol and the OpenAI-compatible client."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

import aiohttp
import pydantic
from openai._models import construct_type  # the SDK's lenient builder, for odd upstreams
from openai.types.chat import ChatCompletionChunk

from threadline.upstream_http import (
    UpstreamBrokenError,
    UpstreamHTTP,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    events,
)

__all__ = ["ChatRequest", "ModelClient", "ModelError", "OpenAIModelClient"]

ErrorCode = Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions call, in the upstream's wire terms (JSON-ready values)."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: dict[str, Any] | None = None
    max_completion_tokens: int | None = None
    # Whether someone watches the answer as it comes (a streamed run). When nobody does,
    # a client may ask the upstream for the whole completion at once and hand it over as
    # chunks: one response to read instead of a chunk per token.
    stream: bool = True


class ModelError(Exception):
    """An upstream failure, already classified as a run's `last_error.code`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


class ModelClient(Protocol):
    """Streams one chat completion. Raises `ModelError` once retries are spent.

    With `request.stream` false the chunks may all come at once, after the whole answer."""

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatCompletionChunk]: ...


_BACKOFF_CAP_SECONDS = 8.0
_Failure = UpstreamTimeoutError | UpstreamUnreachableError | UpstreamStatusError


class OpenAIModelClient:
    """`ModelClient` over any OpenAI-compatible chat-completions endpoint.

    Retries 5xx, timeouts and connection errors, and only before the first chunk, since a
    half-streamed answer cannot be replayed. The HTTP is `upstream_http.UpstreamHTTP`; the
    chunks are the SDK's `ChatCompletionChunk`."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self._http = UpstreamHTTP(base_url.rstrip("/") + "/chat/completions", api_key, timeout)
        self._max_retries = max_retries
        self._backoff = backoff

    async def close(self) -> None:
        await self._http.close()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatCompletionChunk]:
        if not request.stream:
            whole = await self._whole(request)
            if whole is not None:
                for chunk in whole:
                    yield _chunk(chunk)
                return
            attempts = 1  # the whole answer timed out: asked again, streamed
        else:
            attempts = 0
        response = await self._open(request, attempts)
        yielded = 0
        try:
            async for data in events(response):
                yielded += 1
                yield _chunk(data)
        except (UpstreamBrokenError, aiohttp.ClientError, TimeoutError, ValueError) as err:
            detail = f"The model stream failed after {yielded} chunks: {_said(err)}"
            raise ModelError("server_error", detail) from err
        finally:
            response.release()

    async def _whole(self, request: ChatRequest) -> list[dict[str, Any]] | None:
        """A non-streamed completion, as the chunks that would have streamed it: one with
        the whole message, then one with the usage. Failures are retried as a stream's
        before its first chunk. None when the upstream sent no answer within the timeout:
        a long answer is then asked for again, streamed, which the timeout bounds per chunk
        and not as a whole (the timed-out call counts as the stream's first attempt)."""
        params = _create_params(request)
        del params["stream_options"]
        attempts = 0
        while True:
            attempts += 1
            try:
                whole = await self._http.post_whole(params | {"stream": False})
                return _completion_chunks(whole)
            except UpstreamTimeoutError as err:
                await self._retry_or_raise(err, attempts)
                return None
            except (UpstreamStatusError, UpstreamUnreachableError) as err:
                await self._retry_or_raise(err, attempts)
            except (UpstreamBrokenError, ValueError) as err:  # a 200 that is no answer
                detail = f"The model stream failed after 0 chunks: {_said(err)}"
                raise ModelError("server_error", detail) from err

    async def _open(self, request: ChatRequest, attempts: int = 0) -> aiohttp.ClientResponse:
        params = _create_params(request)
        while True:
            attempts += 1
            try:
                return await self._http.post(params | {"stream": True})
            except UpstreamStatusError as err:
                if (
                    err.status == 400
                    and "stream_options" in params
                    and "stream_options" in err.detail
                ):
                    del params["stream_options"]  # this server rejects it; no usage then
                    continue
                await self._retry_or_raise(err, attempts)
            except (UpstreamTimeoutError, UpstreamUnreachableError) as err:
                await self._retry_or_raise(err, attempts)

    async def _retry_or_raise(self, err: _Failure, attempts: int) -> None:
        """Wait before the next attempt; or raise the failure as the run's error when it is
        not worth another (a 4xx) or the retries are spent."""
        final = isinstance(err, UpstreamStatusError) and err.status < 500
        if final or attempts > self._max_retries:
            raise _classify(err, attempts) from err
        ceiling = min(_BACKOFF_CAP_SECONDS, self._backoff * 2 ** (attempts - 1))
        await asyncio.sleep(random.uniform(ceiling / 2, ceiling))


def _completion_chunks(data: object) -> list[dict[str, Any]]:
    """A non-streamed completion as the chunks of its stream: the message whole in one,
    the usage in another."""
    if not isinstance(data, dict):
        raise ValueError(f"the model's response is not a JSON object: {data!r}"[:200])
    envelope = ("id", "created", "model", "system_fingerprint")
    base = {key: data[key] for key in envelope if key in data}
    base["object"] = "chat.completion.chunk"
    choices: list[dict[str, Any]] = []
    for number, choice in enumerate(data.get("choices") or []):
        message = choice.get("message") or {}
        delta = {key: message[key] for key in ("role", "content", "refusal") if key in message}
        calls = message.get("tool_calls")
        if calls:
            delta["tool_calls"] = [{"index": index} | call for index, call in enumerate(calls)]
        entry = {"index": choice.get("index", number), "delta": delta}
        choices.append(entry | {"finish_reason": choice.get("finish_reason")})
    chunks = [base | {"choices": choices}]
    if data.get("usage") is not None:
        chunks.append(base | {"choices": [], "usage": data["usage"]})
    return chunks


def _chunk(data: object) -> ChatCompletionChunk:
    """A streamed chunk as the SDK's type: validated (fast), or constructed leniently from
    what a less strict upstream sent."""
    try:
        return ChatCompletionChunk.model_validate(data)
    except pydantic.ValidationError:
        return cast(ChatCompletionChunk, construct_type(type_=ChatCompletionChunk, value=data))


def _create_params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages,
        "stream_options": {"include_usage": True},
    }
    optional: dict[str, Any] = {
        "tool_choice": request.tool_choice,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "response_format": request.response_format,
        "max_completion_tokens": request.max_completion_tokens,
    }
    if request.tools:
        # Many servers reject `parallel_tool_calls` in a request without tools.
        optional |= {"tools": request.tools, "parallel_tool_calls": request.parallel_tool_calls}
    params |= {key: value for key, value in optional.items() if value is not None}
    return params


def _classify(err: _Failure, attempts: int) -> ModelError:
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(err, UpstreamTimeoutError):
        return ModelError("server_error", f"The model endpoint timed out{tries}")
    if isinstance(err, UpstreamUnreachableError):
        return ModelError("server_error", f"Could not reach the model endpoint{tries}: {err}")
    message = f"The model endpoint returned {err.status}{tries}: {err.detail}"
    if err.status == 429:
        return ModelError("rate_limit_exceeded", message)
    if err.status >= 500:
        return ModelError("server_error", message)
    return ModelError("invalid_prompt", message)


def _said(err: Exception) -> str:
    return str(err) or type(err).__name__
