"""Section 4: a function-tool round trip: run -> requires_action -> submit -> completed,
against the two completions it takes on the upstream alone."""

from __future__ import annotations

import time
from typing import Any

import openai

from bench.floor import plain_completion, user
from bench.stats import Row, against_floor

__all__ = ["measure_tool_round_trip"]

ARGUMENTS = '{"city": "Oslo"}'
ASK = f"What is the weather? call:get_weather({ARGUMENTS})"
TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _floor(sdk: openai.OpenAI) -> float:
    """The two completions on their own: one that calls the tool, one that reads its result."""
    first = plain_completion(sdk, [user(ASK)], tools=[TOOL])
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ARGUMENTS},
    }
    messages = [
        user(ASK),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy, 7 C"},
    ]
    return first + plain_completion(sdk, messages, tools=[TOOL])


def _round_trip(sdk: openai.OpenAI, assistant_id: str) -> float:
    thread = sdk.beta.threads.create(messages=[user(ASK)])
    started = time.perf_counter()
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)
    if run.status != "requires_action" or run.required_action is None:
        raise RuntimeError(f"run {run.id} is {run.status}, not requires_action")
    calls = run.required_action.submit_tool_outputs.tool_calls
    run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": c.id, "output": "rainy, 7 C"} for c in calls],
    )
    elapsed = (time.perf_counter() - started) * 1000
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} ended {run.status}: {run.last_error}")
    return elapsed


def measure_tool_round_trip(
    upstream: str, base: str, runs: int
) -> tuple[dict[str, Any], list[Row]]:
    with (
        openai.OpenAI(base_url=upstream, api_key="x") as floor_sdk,
        openai.OpenAI(base_url=base, api_key="x") as sdk,
    ):
        assistant = sdk.beta.assistants.create(model="fake-model", tools=[TOOL])
        for _ in range(3):
            _floor(floor_sdk)
            _round_trip(sdk, assistant.id)
        floor, ours = [], []
        for _ in range(runs):
            floor.append(_floor(floor_sdk))
            ours.append(_round_trip(sdk, assistant.id))
    return against_floor("round trip (2 model calls)", ours, floor)
