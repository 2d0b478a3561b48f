"""The floor: the same chat completion called directly on the upstream, streamed and not."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion

from bench.stats import Row, p50, p99

__all__ = [
    "MODEL",
    "PROMPT",
    "StreamTimes",
    "measure_floor",
    "plain_completion",
    "stream_times",
    "streamed_completion",
    "user",
]

MODEL = "fake-model"
PROMPT = " ".join(f"word{i}" for i in range(99))  # the fake upstream echoes it: 100 chunks


def user(text: str) -> Any:
    """A user message as plain JSON (typed Any: the SDK's parameters are TypedDicts)."""
    return {"role": "user", "content": text}


@dataclass(frozen=True)
class StreamTimes:
    """Milliseconds from the request to the first text chunk and to the end; the chunks' count."""

    first_ms: float
    done_ms: float
    chunks: int


def stream_times(
    client: httpx.Client, url: str, body: dict[str, Any], text_line: str
) -> StreamTimes:
    """Stream `body` to `url` and time the lines starting with `text_line` and the end."""
    started = time.perf_counter()
    first = 0.0
    chunks = 0
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith(text_line) and _has_text(line):
                chunks += 1
                first = first or time.perf_counter() - started
    done = time.perf_counter() - started
    return StreamTimes(first * 1000, done * 1000, chunks)


def _has_text(line: str) -> bool:
    if not line.startswith("data: {"):  # Threadline's `event: thread.message.delta` lines
        return True
    choices = json.loads(line[len("data: ") :]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


def streamed_completion(
    client: httpx.Client, upstream: str, messages: list[dict[str, Any]]
) -> StreamTimes:
    body = {"model": MODEL, "stream": True, "messages": messages}
    return stream_times(client, f"{upstream}/chat/completions", body, "data: {")


def plain_completion(sdk: openai.OpenAI, messages: Any, **extra: Any) -> float:
    """Milliseconds for one non-streamed completion through the official SDK's own request
    machinery, as every call to Threadline pays it. (Its `chat.completions.create` would
    also walk the messages to check their types: ~0.1 ms per message on the client.)"""
    body = {"model": MODEL, "messages": messages, **extra}
    started = time.perf_counter()
    sdk.post("/chat/completions", body=body, cast_to=ChatCompletion)
    return (time.perf_counter() - started) * 1000


def measure_floor(upstream: str, runs: int) -> tuple[dict[str, Any], list[Row]]:
    """Section 1: the upstream alone, non-streamed (SDK) and streamed (raw SSE)."""
    messages = [user(PROMPT)]
    with httpx.Client(timeout=60) as http, openai.OpenAI(base_url=upstream, api_key="x") as sdk:
        for _ in range(3):
            plain_completion(sdk, messages)
            streamed_completion(http, upstream, messages)
        plain = [plain_completion(sdk, messages) for _ in range(runs)]
        streamed = [streamed_completion(http, upstream, messages) for _ in range(runs)]
    first = [s.first_ms for s in streamed]
    done = [s.done_ms for s in streamed]
    figures = {
        "non_streamed_ms": {"p50": p50(plain), "p99": p99(plain)},
        "streamed_first_chunk_ms": {"p50": p50(first), "p99": p99(first)},
        "streamed_done_ms": {"p50": p50(done), "p99": p99(done)},
        "chunks": streamed[0].chunks,
    }
    rows = [
        ("non-streamed completion p50 / p99", f"{p50(plain):.2f} / {p99(plain):.2f} ms"),
        ("streamed first chunk p50 / p99", f"{p50(first):.2f} / {p99(first):.2f} ms"),
        ("streamed done p50 / p99", f"{p50(done):.2f} / {p99(done):.2f} ms"),
        ("text chunks per completion", str(streamed[0].chunks)),
    ]
    return figures, rows
