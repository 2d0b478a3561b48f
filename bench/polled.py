"""Section 2: a non-streamed run, through `create_and_poll` (the SDK's poll helper, served by a
long poll) and through create + a plain retrieve loop, against a non-streamed completion."""

from __future__ import annotations

import time
from typing import Any

import openai

from bench.floor import PROMPT, plain_completion, user
from bench.stats import Row, against_floor

__all__ = ["TERMINAL", "measure_polled"]

TERMINAL = frozenset(
    {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
)


def _poll_helper(sdk: openai.OpenAI, assistant_id: str) -> float:
    thread = sdk.beta.threads.create(messages=[user(PROMPT)])
    started = time.perf_counter()
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)
    elapsed = (time.perf_counter() - started) * 1000
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} ended {run.status}: {run.last_error}")
    return elapsed


def _retrieve_loop(sdk: openai.OpenAI, assistant_id: str, poll_ms: float) -> float:
    thread = sdk.beta.threads.create(messages=[user(PROMPT)])
    started = time.perf_counter()
    run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    while run.status not in TERMINAL:
        time.sleep(poll_ms / 1000)
        run = sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    elapsed = (time.perf_counter() - started) * 1000
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} ended {run.status}: {run.last_error}")
    return elapsed


def measure_polled(
    upstream: str, base: str, runs: int, poll_ms: float = 10.0
) -> tuple[dict[str, Any], list[Row]]:
    messages = [user(PROMPT)]
    with (
        openai.OpenAI(base_url=upstream, api_key="x") as floor_sdk,
        openai.OpenAI(base_url=base, api_key="x") as sdk,
    ):
        assistant = sdk.beta.assistants.create(model="fake-model")
        for _ in range(3):
            plain_completion(floor_sdk, messages)
            _poll_helper(sdk, assistant.id)
            _retrieve_loop(sdk, assistant.id, poll_ms)
        floor, helper, loop = [], [], []
        for _ in range(runs):  # interleaved, so drifting load hits all three alike
            floor.append(plain_completion(floor_sdk, messages))
            helper.append(_poll_helper(sdk, assistant.id))
            loop.append(_retrieve_loop(sdk, assistant.id, poll_ms))
    helper_figures, helper_rows = against_floor("create_and_poll", helper, floor)
    loop_figures, loop_rows = against_floor(f"create + retrieve every {poll_ms:g} ms", loop, floor)
    figures = {"create_and_poll": helper_figures, "create_retrieve_loop": loop_figures}
    return figures, helper_rows + loop_rows
