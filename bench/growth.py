"""Section 7: run latency against thread length, against the floor of a completion over the
same messages (the upstream's own cost grows with the prompt too)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai

from bench.floor import plain_completion, user
from bench.stats import Row, against_floor

__all__ = ["measure_growth"]

_CREATE_AT_ONCE = 32  # OpenAI's cap on messages in one thread create


def _messages(length: int) -> list[dict[str, Any]]:
    return [
        user(f"message {i}: the quick brown fox jumps over the lazy dog") for i in range(length)
    ]


def _thread(http: httpx.Client, base: str, messages: list[dict[str, Any]]) -> str:
    thread = http.post(f"{base}/threads", json={"messages": messages[:_CREATE_AT_ONCE]})
    thread_id: str = thread.raise_for_status().json()["id"]
    for message in messages[_CREATE_AT_ONCE:]:
        http.post(f"{base}/threads/{thread_id}/messages", json=message).raise_for_status()
    return thread_id


def _run(sdk: openai.OpenAI, thread_id: str, assistant_id: str) -> float:
    started = time.perf_counter()
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id)
    elapsed = (time.perf_counter() - started) * 1000
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} ended {run.status}: {run.last_error}")
    return elapsed


def measure_growth(
    upstream: str, base: str, runs: int, lengths: tuple[int, ...] = (10, 100, 1000)
) -> tuple[dict[str, Any], list[Row]]:
    figures: dict[str, Any] = {}
    rows: list[Row] = []
    with (
        httpx.Client(timeout=60) as http,
        openai.OpenAI(base_url=upstream, api_key="x") as floor_sdk,
        openai.OpenAI(base_url=base, api_key="x") as sdk,
    ):
        assistant = sdk.beta.assistants.create(model="fake-model")
        for length in lengths:
            messages = _messages(length)
            thread_id = _thread(http, base, messages)
            _run(sdk, thread_id, assistant.id)
            plain_completion(floor_sdk, messages)
            reply = {"role": "assistant", "content": "Echo: " + messages[-1]["content"]}
            messages.append(reply)
            floor, ours = [], []
            for _ in range(runs):
                messages.append(reply)  # each run adds its reply: the floor's prompt grows alike
                floor.append(plain_completion(floor_sdk, messages))
                ours.append(_run(sdk, thread_id, assistant.id))
            figures[str(length)], length_rows = against_floor(f"{length} messages", ours, floor)
            rows += length_rows[:1]
    first, last = figures[str(lengths[0])], figures[str(lengths[-1])]
    added = lengths[-1] - lengths[0]
    run_growth = last["p50_ms"] - first["p50_ms"]
    floor_growth = last["floor_p50_ms"] - first["floor_p50_ms"]
    figures["growth"] = {
        "run_ms_per_1000_messages": run_growth * 1000 / added,
        "floor_ms_per_1000_messages": floor_growth * 1000 / added,
    }
    rows.append(
        (
            f"growth {lengths[0]} -> {lengths[-1]} messages",
            f"run +{run_growth:.2f} ms, floor +{floor_growth:.2f} ms "
            f"(overhead +{run_growth - floor_growth:.2f} ms)",
        )
    )
    return figures, rows
