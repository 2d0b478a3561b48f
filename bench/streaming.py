"""Section 3: a streamed run: time to the first text delta and to the end of the stream,
against the same completion streamed by the upstream itself; the cost per streamed chunk."""

from __future__ import annotations

from typing import Any

import httpx

from bench.floor import PROMPT, StreamTimes, stream_times, streamed_completion, user
from bench.stats import Row, against_floor, p50

__all__ = ["measure_streaming"]


def _threadline(client: httpx.Client, base: str, assistant_id: str) -> StreamTimes:
    thread = client.post(f"{base}/threads", json={"messages": [user(PROMPT)]}).json()
    body = {"assistant_id": assistant_id, "stream": True}
    url = f"{base}/threads/{thread['id']}/runs"
    return stream_times(client, url, body, "event: thread.message.delta")


def _per_chunk_us(times: list[StreamTimes]) -> float:
    """Microseconds between the first and the last chunk, per chunk (p50 over the runs)."""
    return p50([(t.done_ms - t.first_ms) * 1000 / max(1, t.chunks - 1) for t in times])


def measure_streaming(upstream: str, base: str, runs: int) -> tuple[dict[str, Any], list[Row]]:
    messages = [user(PROMPT)]
    with httpx.Client(timeout=60) as client:
        assistant = client.post(f"{base}/assistants", json={"model": "fake-model"}).json()
        for _ in range(3):
            streamed_completion(client, upstream, messages)
            _threadline(client, base, assistant["id"])
        floors, ours = [], []
        for _ in range(runs):
            floors.append(streamed_completion(client, upstream, messages))
            ours.append(_threadline(client, base, assistant["id"]))
    first, first_rows = against_floor(
        "first text delta", [t.first_ms for t in ours], [t.first_ms for t in floors]
    )
    done, done_rows = against_floor(
        "stream done", [t.done_ms for t in ours], [t.done_ms for t in floors]
    )
    floor_chunk, our_chunk = _per_chunk_us(floors), _per_chunk_us(ours)
    figures = {
        "first_delta": first,
        "done": done,
        "per_chunk_us": {"floor": floor_chunk, "threadline": our_chunk},
    }
    chunk_row = (
        "per chunk",
        f"{our_chunk:.0f} us (floor {floor_chunk:.0f} us, +{our_chunk - floor_chunk:.0f} us)",
    )
    return figures, [*first_rows, *done_rows, chunk_row]
