"""Streaming latency: time to the first text delta through Threadline against the
upstream's own time to first token, and the cost per streamed chunk."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

__all__ = ["StreamFigures", "measure_streaming"]

PROMPT = " ".join(f"word{i}" for i in range(100))  # the upstream echoes it: ~100 chunks


@dataclass(frozen=True)
class StreamFigures:
    floor_ttft_ms: list[float]
    threadline_ttft_ms: list[float]
    floor_chunk_us: float
    threadline_chunk_us: float

    def table(self) -> list[tuple[str, str]]:
        floor = statistics.median(self.floor_ttft_ms)
        ours = statistics.median(self.threadline_ttft_ms)
        p99 = _p99(self.threadline_ttft_ms) - _p99(self.floor_ttft_ms)
        return [
            ("first delta, upstream floor p50", f"{floor:.2f} ms"),
            ("first delta, Threadline p50", f"{ours:.2f} ms ({ours / floor:.2f}x floor)"),
            ("first delta overhead p50 / p99", f"{ours - floor:.2f} ms / {p99:.2f} ms"),
            ("per chunk, upstream floor", f"{self.floor_chunk_us:.0f} us"),
            ("per chunk, Threadline", f"{self.threadline_chunk_us:.0f} us"),
            (
                "per chunk overhead",
                f"{(self.threadline_chunk_us - self.floor_chunk_us) / 1000:.3f} ms",
            ),
        ]


def _p99(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.99 * len(values)) - 1)]


def _is_upstream_text(line: str) -> bool:
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line[len("data: ") :]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


def _is_threadline_text(line: str) -> bool:
    return line == "event: thread.message.delta"


def _sse_lines(
    client: httpx.Client, url: str, body: dict[str, object], is_text: Callable[[str], bool]
) -> list[float]:
    """Arrival times in ms (since the request was sent) of each text chunk."""
    started = time.perf_counter()
    arrivals = []
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if is_text(line):
                arrivals.append((time.perf_counter() - started) * 1000)
    return arrivals


def _floor(client: httpx.Client, upstream: str) -> list[float]:
    body = {
        "model": "fake-model",
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    return _sse_lines(client, f"{upstream}/chat/completions", body, _is_upstream_text)


def _threadline(client: httpx.Client, base: str, assistant_id: str) -> list[float]:
    thread = client.post(
        f"{base}/threads", json={"messages": [{"role": "user", "content": PROMPT}]}
    ).json()
    body = {"assistant_id": assistant_id, "stream": True}
    return _sse_lines(client, f"{base}/threads/{thread['id']}/runs", body, _is_threadline_text)


def _per_chunk_us(arrivals: list[float]) -> float:
    """Microseconds between the first and the last chunk, per chunk."""
    return (arrivals[-1] - arrivals[0]) * 1000 / max(1, len(arrivals) - 1)


def measure_streaming(upstream: str, base: str, runs: int = 50) -> StreamFigures:
    with httpx.Client(timeout=60) as client:
        assistant = client.post(f"{base}/assistants", json={"model": "fake-model"}).json()
        for _ in range(5):  # warm both paths
            _floor(client, upstream)
            _threadline(client, base, assistant["id"])
        floors, ours = [], []
        for _ in range(runs):
            floors.append(_floor(client, upstream))
            ours.append(_threadline(client, base, assistant["id"]))
    return StreamFigures(
        floor_ttft_ms=[a[0] for a in floors],
        threadline_ttft_ms=[a[0] for a in ours],
        floor_chunk_us=statistics.median(_per_chunk_us(a) for a in floors),
        threadline_chunk_us=statistics.median(_per_chunk_us(a) for a in ours),
    )
