"""The executor, driven by hand over the in-memory store and a scripted model."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

from threadline.inference import ErrorCode
from threadline.protocol.messages import Message
from threadline.protocol.runs import (
    CodeInterpreterToolCall,
    CreateRunRequest,
    CreateThreadAndRunRequest,
    FunctionToolCall,
    MessageCreationDetails,
    Run,
    RunStep,
    ToolCallsDetails,
    Usage,
)
from threadline.protocol.stream import RunStepDelta
from threadline.runs.bus import LocalBus
from threadline.runs.events import Event
from threadline.runs.executor import NO_MODEL, Executor, ExecutorConfig
from threadline.runs.worker import Worker, WorkerConfig
from threadline.services import Services
from threadline.store.base import Claim, Lease
from threadline.store.memory import MemoryStore
from threadline.testing import Reply
from threadline.tools.builtin import UNAVAILABLE

from .conftest import OWNER, WEATHER, Harness, delta_text, names, request, text_of

PARIS = '{"city": "Paris"}'
OSLO = '{"city": "Oslo"}'
CODE = '{"code": "print(2 + 2)"}'
MESSAGE_EVENTS = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]


def step_deltas(events: Sequence[Event]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for event in events:
        if event.event == "thread.run.step.delta":
            assert isinstance(event.data, RunStepDelta)
            entries += event.data.delta["step_details"]["tool_calls"]
    return entries


def tool_calls(step: RunStep) -> list[Any]:
    assert isinstance(step.step_details, ToolCallsDetails)
    return list(step.step_details.tool_calls)


def functions(step: RunStep) -> list[FunctionToolCall]:
    calls = tool_calls(step)
    assert all(isinstance(call, FunctionToolCall) for call in calls)
    return calls


def required_ids(run: Run) -> list[str]:
    assert run.required_action is not None
    return [call.id for call in run.required_action.submit_tool_outputs.tool_calls]


def usage(prompt: int, completion: int) -> Usage:
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


# A text reply


async def test_a_text_reply_streams_its_events_in_order(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Hello there, friend", usage=(12, 4)))
    await harness.start("Hi")
    events = await harness.drive()
    assert names(events) == [
        "thread.run.in_progress",
        *MESSAGE_EVENTS,
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]


async def test_a_text_reply_is_stored_as_the_streamed_deltas(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Hello there, friend", usage=(12, 4)))
    run = await harness.start("Hi", assistant={"instructions": "Be brief."})
    events = await harness.drive()
    message = await harness.reply(run)
    assert delta_text(events) == text_of(message) == "Hello there, friend"
    assert (message.status, message.role) == ("completed", "assistant")
    assert (message.run_id, message.assistant_id) == (run.id, run.assistant_id)
    assert message.completed_at is not None
    [step] = await harness.steps(run)
    assert step.type == "message_creation"
    assert isinstance(step.step_details, MessageCreationDetails)
    assert step.step_details.message_creation.message_id == message.id
    assert (step.status, step.usage) == ("completed", usage(12, 4))
    [request] = harness.model.history
    assert request.model == "fake-model"
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


async def test_a_completed_run_carries_usage_and_stamps(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Done.", usage=(12, 4)))
    run = await harness.start()
    events = await harness.drive()
    final = await harness.get(run)
    assert final.status == "completed"
    assert final.usage == usage(12, 4)
    assert final.started_at is not None
    assert final.completed_at is not None
    assert final.expires_at is None
    assert (final.failed_at, final.cancelled_at, final.last_error) == (None, None, None)
    assert events[-1].data == final


async def test_usage_sums_over_model_calls_and_lands_on_each_step(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("code_interpreter", CODE),), usage=(10, 5)),
        Reply(text="It is 4.", usage=(20, 7)),
    )
    run = await harness.start(assistant={"tools": [{"type": "code_interpreter"}]})
    await harness.drive()
    assert (await harness.get(run)).usage == usage(30, 12)
    tool_step, message_step = await harness.steps(run)
    assert (tool_step.type, tool_step.usage) == ("tool_calls", usage(10, 5))
    assert (message_step.type, message_step.usage) == ("message_creation", usage(20, 7))


# Function tools


async def test_a_function_call_makes_the_run_require_action(harness: Harness) -> None:
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)))
    run = await harness.start("Weather in Paris?", assistant={"tools": [WEATHER]})
    events = await harness.drive()
    assert names(events) == [
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    waiting = await harness.get(run)
    assert waiting.status == "requires_action"
    assert waiting.expires_at == run.expires_at
    assert waiting.usage == usage(10, 5)
    [call_id] = required_ids(waiting)
    assert call_id.startswith("call_")
    assert waiting.required_action is not None
    [required] = waiting.required_action.submit_tool_outputs.tool_calls
    assert required.model_dump() == {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": PARIS},
    }
    [step] = await harness.steps(run)
    assert (step.type, step.status, step.completed_at) == ("tool_calls", "in_progress", None)
    [call] = functions(step)
    assert call.model_dump() == {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": PARIS, "output": None},
    }
    assert [m.role for m in await harness.messages(run)] == ["user"]


async def test_step_deltas_carry_the_name_once_and_arguments_in_pieces(harness: Harness) -> None:
    # The SDK concatenates every string it receives under the same index: a name repeated
    # on every delta would come out as "get_weatherget_weather".
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)))
    run = await harness.start(assistant={"tools": [WEATHER]})
    events = await harness.drive()
    [call_id] = required_ids(await harness.get(run))
    first, second = step_deltas(events)
    assert first == {
        "index": 0,
        "type": "function",
        "id": call_id,
        "function": {"name": "get_weather", "arguments": "", "output": None},
    }
    assert second == {"index": 0, "type": "function", "function": {"arguments": PARIS}}


async def test_submitted_outputs_complete_the_step_and_reach_the_model(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("get_weather", PARIS),), usage=(10, 5)),
        Reply(text="It is 22C in Paris.", usage=(30, 8)),
    )
    run = await harness.start("Weather in Paris?", assistant={"tools": [WEATHER]})
    await harness.drive()
    [call_id] = required_ids(await harness.get(run))

    queued = await harness.submit(run, {call_id: "22C"})
    assert (queued.status, queued.required_action) == ("queued", None)
    assert queued.expires_at == run.expires_at
    [step] = await harness.steps(run)
    assert step.status == "in_progress"
    assert functions(step)[0].function.output == "22C"

    events = await harness.drive()
    assert names(events) == [
        "thread.run.in_progress",
        "thread.run.step.completed",
        *MESSAGE_EVENTS,
        *["thread.message.delta"] * 5,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    final = await harness.get(run)
    assert final.status == "completed"
    assert final.usage == usage(40, 13)
    tool_step, message_step = await harness.steps(run)
    assert (tool_step.status, tool_step.usage) == ("completed", usage(10, 5))
    assert tool_step.completed_at is not None
    assert functions(tool_step)[0].function.output == "22C"
    assert message_step.status == "completed"
    assert text_of(await harness.reply(run)) == "It is 22C in Paris."

    first, second = harness.model.history
    assert second.messages[-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": PARIS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "22C"},
    ]
    assert second.messages[:-2] == first.messages


async def test_parallel_calls_share_one_step_with_unique_ids(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("get_weather", PARIS), ("get_weather", OSLO))),
        Reply(text="Paris is warmer."),
    )
    run = await harness.start(assistant={"tools": [WEATHER]})
    events = await harness.drive()
    waiting = await harness.get(run)
    ids = required_ids(waiting)
    assert len(set(ids)) == 2
    assert all(call_id.startswith("call_") for call_id in ids)
    assert [entry["index"] for entry in step_deltas(events)] == [0, 0, 1, 1]
    [step] = await harness.steps(run)
    assert [(c.id, c.function.arguments, c.function.output) for c in functions(step)] == [
        (ids[0], PARIS, None),
        (ids[1], OSLO, None),
    ]

    await harness.submit(run, {ids[1]: "5C", ids[0]: "22C"})
    await harness.drive()
    assert (await harness.get(run)).status == "completed"
    step, _ = await harness.steps(run)
    assert [c.function.output for c in functions(step)] == ["22C", "5C"]
    assert step.status == "completed"
    messages = harness.model.history[1].messages
    assert [m["role"] for m in messages[-3:]] == ["assistant", "tool", "tool"]
    assert [c["id"] for c in messages[-3]["tool_calls"]] == ids
    assert [(m["tool_call_id"], m["content"]) for m in messages[-2:]] == [
        (ids[0], "22C"),
        (ids[1], "5C"),
    ]


async def test_call_ids_are_unique_across_runs(harness: Harness) -> None:
    seen: list[str] = []
    for _ in range(3):
        harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)))
        run = await harness.start(assistant={"tools": [WEATHER]})
        await harness.drive()
        seen += required_ids(await harness.get(run))
    assert len(set(seen)) == 3


async def test_malformed_arguments_are_kept_verbatim(harness: Harness) -> None:
    broken = '{"city": "Par'
    harness.model.enqueue(Reply(tool_calls=(("get_weather", broken),)))
    run = await harness.start(assistant={"tools": [WEATHER]})
    await harness.drive()
    waiting = await harness.get(run)
    assert waiting.required_action is not None
    [required] = waiting.required_action.submit_tool_outputs.tool_calls
    assert required.function.arguments == broken
    [step] = await harness.steps(run)
    assert functions(step)[0].function.arguments == broken


async def test_text_then_a_call_in_one_reply_makes_two_steps(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(text="Let me check.", tool_calls=(("get_weather", PARIS),), usage=(10, 9)),
        Reply(text="Sunny."),
    )
    run = await harness.start(assistant={"tools": [WEATHER]})
    events = await harness.drive()
    assert names(events) == [
        "thread.run.in_progress",
        *MESSAGE_EVENTS,
        *["thread.message.delta"] * 3,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    message_step, tool_step = await harness.steps(run)
    assert (message_step.type, message_step.status) == ("message_creation", "completed")
    assert (tool_step.type, tool_step.status) == ("tool_calls", "in_progress")
    [message] = [m for m in await harness.messages(run) if m.run_id == run.id]
    assert (message.status, text_of(message)) == ("completed", "Let me check.")

    [call_id] = required_ids(await harness.get(run))
    await harness.submit(run, {call_id: "sunny"})
    await harness.drive()
    assert (await harness.get(run)).status == "completed"
    assert [m["role"] for m in harness.model.history[1].messages] == [
        "user",
        "assistant",
        "assistant",
        "tool",
    ]
    assert harness.model.history[1].messages[1] == {
        "role": "assistant",
        "content": "Let me check.",
    }


async def test_a_builtin_call_is_answered_and_the_loop_goes_on(harness: Harness) -> None:
    harness.model.enqueue(Reply(tool_calls=(("code_interpreter", CODE),)), Reply(text="It is 4."))
    run = await harness.start(assistant={"tools": [{"type": "code_interpreter"}]})
    events = await harness.drive()
    assert names(events) == [
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.delta",
        "thread.run.step.completed",
        *MESSAGE_EVENTS,
        *["thread.message.delta"] * 3,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    started, finished = (e.data for e in events if e.event == "thread.run.step.delta")
    assert isinstance(started, RunStepDelta)
    assert isinstance(finished, RunStepDelta)
    [entry] = started.delta["step_details"]["tool_calls"]
    assert entry["index"] == 0
    assert entry["type"] == "code_interpreter"
    assert entry["code_interpreter"] == {"input": "print(2 + 2)", "outputs": []}
    [entry] = finished.delta["step_details"]["tool_calls"]
    assert "id" not in entry
    assert entry["code_interpreter"]["outputs"][0]["index"] == 0
    tool_step, _ = await harness.steps(run)
    [call] = tool_calls(tool_step)
    unavailable = UNAVAILABLE.format(name="code_interpreter")
    assert unavailable == "The code_interpreter tool is not available on this server."
    assert isinstance(call, CodeInterpreterToolCall)
    assert call.id.startswith("call_")
    assert call.model_dump()["code_interpreter"] == {
        "input": "print(2 + 2)",
        "outputs": [{"type": "logs", "logs": unavailable}],
    }
    assert harness.model.history[1].messages[-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "code_interpreter", "arguments": CODE},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": unavailable},
    ]
    assert text_of((await harness.messages(run))[-1]) == "It is 4."


# Bounds and failures


async def test_the_model_call_bound_fails_the_run(harness: Harness) -> None:
    harness.config = ExecutorConfig(max_model_calls=2)
    harness.model.enqueue(*[Reply(tool_calls=(("code_interpreter", CODE),))] * 3)
    run = await harness.start(assistant={"tools": [{"type": "code_interpreter"}]})
    events = await harness.drive()
    final = await harness.get(run)
    assert final.status == "failed"
    assert final.last_error is not None
    assert final.last_error.model_dump() == {
        "code": "server_error",
        "message": "The run made 2 model calls without finishing.",
    }
    assert len(harness.model.history) == 2
    assert names(events)[-1] == "thread.run.failed"


async def test_the_model_call_bound_counts_over_tool_output_rounds(harness: Harness) -> None:
    harness.config = ExecutorConfig(max_model_calls=2)
    harness.model.enqueue(*[Reply(tool_calls=(("get_weather", PARIS),))] * 3)
    run = await harness.start(assistant={"tools": [WEATHER]})
    await harness.drive()
    await harness.submit(run, {required_ids(await harness.get(run))[0]: "22C"})
    await harness.drive()
    await harness.submit(run, {required_ids(await harness.get(run))[0]: "22C"})
    await harness.drive()
    final = await harness.get(run)
    assert final.status == "failed"
    assert final.last_error is not None
    assert final.last_error.message == "The run made 2 model calls without finishing."
    assert len(harness.model.history) == 2


@pytest.mark.parametrize("code", ["rate_limit_exceeded", "server_error", "invalid_prompt"])
async def test_a_model_error_fails_the_run_with_its_code(harness: Harness, code: ErrorCode) -> None:
    harness.model.enqueue(Reply(error=code))
    run = await harness.start()
    events = await harness.drive()
    assert names(events) == ["thread.run.in_progress", "thread.run.failed"]
    final = await harness.get(run)
    assert final.status == "failed"
    assert final.last_error is not None
    assert final.last_error.model_dump() == {"code": code, "message": f"scripted {code}"}
    assert final.failed_at is not None
    assert final.expires_at is None
    assert await harness.steps(run) == []


@pytest.mark.parametrize(
    ("code", "step_code"),
    [
        ("rate_limit_exceeded", "rate_limit_exceeded"),
        ("server_error", "server_error"),
        ("invalid_prompt", "server_error"),
    ],
)
async def test_an_error_mid_reply_closes_what_was_open(
    harness: Harness, code: ErrorCode, step_code: str
) -> None:
    harness.model.enqueue(Reply(text="Half an", error=code))
    run = await harness.start()
    events = await harness.drive()
    assert names(events) == [
        "thread.run.in_progress",
        *MESSAGE_EVENTS,
        "thread.message.delta",
        "thread.message.delta",
        "thread.run.step.failed",
        "thread.message.incomplete",
        "thread.run.failed",
    ]
    final = await harness.get(run)
    assert final.last_error is not None
    assert final.last_error.code == code
    [step] = await harness.steps(run)
    assert step.status == "failed"
    assert step.failed_at == final.failed_at
    assert step.last_error is not None
    assert step.last_error.model_dump() == {"code": step_code, "message": f"scripted {code}"}
    message = await harness.reply(run)
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_failed"
    assert message.incomplete_at == final.failed_at
    assert text_of(message) == "Half an"


async def test_an_error_while_calling_a_tool_fails_the_open_tool_step(harness: Harness) -> None:
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),), error="server_error"))
    run = await harness.start(assistant={"tools": [WEATHER]})
    await harness.drive()
    assert (await harness.get(run)).status == "failed"
    [step] = await harness.steps(run)
    assert (step.type, step.status) == ("tool_calls", "failed")


async def test_without_a_model_every_run_fails_naming_the_setting(harness: Harness) -> None:
    run = await harness.start()
    events = await harness.drive(Executor(harness.store, None, harness.bus))
    assert names(events) == ["thread.run.failed"]
    final = await harness.get(run)
    assert final.status == "failed"
    assert final.last_error is not None
    assert final.last_error.code == "server_error"
    assert final.last_error.message == NO_MODEL
    assert "THREADLINE_MODEL_BASE_URL" in final.last_error.message
    assert (final.started_at, final.expires_at) == (None, None)
    assert final.failed_at is not None


# Token budgets


async def test_the_completion_budget_cuts_a_reply_short(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="A very long", finish_reason="length", usage=(10, 256)))
    run = await harness.start(max_completion_tokens=256)
    events = await harness.drive()
    assert names(events)[-3:] == [
        "thread.message.incomplete",
        "thread.run.step.completed",
        "thread.run.incomplete",
    ]
    assert harness.model.history[0].max_completion_tokens == 256
    final = await harness.get(run)
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_completion_tokens"
    assert final.completed_at is not None
    assert final.usage == usage(10, 256)
    message = await harness.reply(run)
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"
    assert text_of(message) == "A very long"
    [step] = await harness.steps(run)
    assert (step.status, step.usage) == ("completed", usage(10, 256))


async def test_the_completion_budget_counts_over_model_calls(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("code_interpreter", CODE),), usage=(10, 200)),
        Reply(text="Cut", finish_reason="length", usage=(20, 56)),
    )
    run = await harness.start(
        assistant={"tools": [{"type": "code_interpreter"}]}, max_completion_tokens=256
    )
    await harness.drive()
    assert [r.max_completion_tokens for r in harness.model.history] == [256, 56]
    final = await harness.get(run)
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_completion_tokens"


async def test_a_length_stop_within_budget_completes(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Short", finish_reason="length", usage=(10, 5)))
    run = await harness.start(max_completion_tokens=256)
    await harness.drive()
    assert (await harness.get(run)).status == "completed"


async def test_the_prompt_budget_counts_over_model_calls(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("code_interpreter", CODE),), usage=(250, 5)), Reply(text="Never")
    )
    run = await harness.start(
        assistant={"tools": [{"type": "code_interpreter"}]}, max_prompt_tokens=256
    )
    events = await harness.drive()
    assert len(harness.model.history) == 1
    assert names(events)[-1] == "thread.run.incomplete"
    final = await harness.get(run)
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_prompt_tokens"
    assert final.usage == usage(250, 5)
    [step] = await harness.steps(run)
    assert step.status == "completed"


# tool_choice


async def test_a_required_tool_choice_binds_the_first_call_only(harness: Harness) -> None:
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)), Reply(text="Done."))
    run = await harness.start(assistant={"tools": [WEATHER]}, tool_choice="required")
    await harness.drive()
    await harness.submit(run, {required_ids(await harness.get(run))[0]: "22C"})
    await harness.drive()
    assert [r.tool_choice for r in harness.model.history] == ["required", "auto"]


async def test_a_named_tool_choice_binds_the_first_call_only(harness: Harness) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    harness.model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)), Reply(text="Done."))
    run = await harness.start(assistant={"tools": [WEATHER]}, tool_choice=named)
    await harness.drive()
    await harness.submit(run, {required_ids(await harness.get(run))[0]: "22C"})
    await harness.drive()
    assert [r.tool_choice for r in harness.model.history] == [named, "auto"]


async def test_the_run_settings_reach_the_model(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="ok"))
    await harness.start(
        assistant={"tools": [WEATHER]}, temperature=0.2, top_p=0.5, parallel_tool_calls=False
    )
    await harness.drive()
    [sent] = harness.model.history
    assert (sent.temperature, sent.top_p) == (0.2, 0.5)
    assert (sent.tool_choice, sent.parallel_tool_calls) == ("auto", False)
    assert sent.tools == [WEATHER]


# Cancel


async def test_cancel_stops_a_streaming_reply_within_a_second(harness: Harness) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    harness.model.enqueue(Reply(text=words, delay=0.05))
    run = await harness.start()
    claim = await harness.store.claim_next_run(OWNER, time.time(), 30.0)
    assert claim is not None
    events: list[Event] = []
    first_delta = asyncio.Event()

    async def drain() -> None:
        async for event in harness.executor.execute(claim):
            events.append(event)
            if event.event == "thread.message.delta":
                first_delta.set()

    task = asyncio.create_task(drain())
    await asyncio.wait_for(first_delta.wait(), 1)
    cancelling = await harness.services.runs.cancel(run.thread_id, run.id)
    assert cancelling.status == "cancelling"
    started = time.monotonic()
    await asyncio.wait_for(task, 1)
    assert time.monotonic() - started < 1

    assert names(events)[-3:] == [
        "thread.run.step.cancelled",
        "thread.message.incomplete",
        "thread.run.cancelled",
    ]
    final = await harness.get(run)
    assert final.status == "cancelled"
    assert final.cancelled_at is not None
    assert final.expires_at is None
    [step] = await harness.steps(run)
    assert (step.status, step.cancelled_at) == ("cancelled", final.cancelled_at)
    message = await harness.reply(run)
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_cancelled"
    assert text_of(message) == delta_text(events)
    assert 0 < len(delta_text(events)) < len(words)


async def test_a_run_cancelled_before_it_starts_ends_cancelled(harness: Harness) -> None:
    run = await harness.start()
    await harness.services.runs.cancel(run.thread_id, run.id)
    events = await harness.drive()
    assert names(events) == ["thread.run.cancelled"]
    final = await harness.get(run)
    assert (final.status, final.started_at) == ("cancelled", None)
    assert harness.model.history == []


# Recovery


async def _crash_mid_reply(harness: Harness, run: Run) -> None:
    """Execute `run` until its reply is half streamed, then drop the executor the way a
    dying process does: nothing more is written."""
    claim = await harness.store.claim_next_run(OWNER, time.time(), 0.3)
    assert claim is not None
    assert claim.run.id == run.id
    execution = harness.executor.execute(claim)
    assert isinstance(execution, AsyncGenerator)
    deltas = 0
    async for event in execution:
        deltas += event.event == "thread.message.delta"
        if deltas == 2:  # the message is stored once its first delta has gone out
            break
    await execution.aclose()


async def _claim_later(harness: Harness, seconds: float) -> Any:
    return await harness.store.claim_next_run("other", time.time() + seconds, 0.3)


async def test_a_run_whose_lease_lapsed_is_resumed_without_its_partial_reply(
    harness: Harness,
) -> None:
    harness.model.enqueue(Reply(text="lost words here"), Reply(text="Fresh answer"))
    run = await harness.start()
    await _crash_mid_reply(harness, run)
    [lost] = [m for m in await harness.messages(run) if m.run_id == run.id]
    assert lost.status == "in_progress"
    assert await harness.store.claim_next_run("other", time.time(), 0.3) is None

    claim = await _claim_later(harness, 1)
    assert claim is not None
    assert (claim.run.status, claim.recoveries, claim.recovered) == ("in_progress", 1, True)
    events = [event async for event in harness.executor.execute(claim)]
    assert names(events)[0] == "thread.run.step.created"
    assert names(events)[-1] == "thread.run.completed"
    assert (await harness.get(run)).status == "completed"
    message = await harness.reply(run)
    assert message.id != lost.id
    assert text_of(message) == "Fresh answer"
    [step] = await harness.steps(run)
    assert step.status == "completed"
    assert len(harness.model.history) == 2
    assert harness.model.history[1].messages == harness.model.history[0].messages


async def test_a_resumed_run_keeps_its_completed_steps(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("code_interpreter", CODE),)),
        Reply(text="lost words here"),
        Reply(text="Kept"),
    )
    run = await harness.start(assistant={"tools": [{"type": "code_interpreter"}]})
    await _crash_mid_reply(harness, run)
    claim = await _claim_later(harness, 1)
    assert claim is not None
    [event async for event in harness.executor.execute(claim)]
    tool_step, message_step = await harness.steps(run)
    assert (tool_step.type, tool_step.status) == ("tool_calls", "completed")
    assert message_step.status == "completed"
    assert text_of(await harness.reply(run)) == "Kept"
    assert harness.model.history[2].tool_choice == "auto"


async def test_too_many_recoveries_fail_the_run(harness: Harness) -> None:
    harness.config = ExecutorConfig(max_recoveries=1)
    harness.model.enqueue(Reply(text="lost words here"))
    run = await harness.start()
    await _crash_mid_reply(harness, run)
    assert await _claim_later(harness, 1) is not None  # taken, then that process died too
    claim = await _claim_later(harness, 2)
    assert claim is not None
    assert claim.recoveries == 2
    events = [event async for event in harness.executor.execute(claim)]
    assert names(events) == [
        "thread.run.step.failed",
        "thread.message.incomplete",
        "thread.run.failed",
    ]
    final = await harness.get(run)
    assert final.status == "failed"
    assert final.last_error is not None
    assert final.last_error.model_dump() == {
        "code": "server_error",
        "message": "The run was interrupted 2 times and was stopped.",
    }
    assert len(harness.model.history) == 1


async def test_an_ended_run_is_not_claimed_again(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Done."))
    run = await harness.start()
    await harness.drive()
    assert await harness.store.claim_next_run(OWNER, time.time() + 100, 30.0) is None
    assert (await harness.get(run)).status == "completed"


async def test_events_carry_json_ready_objects(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="ok"))
    await harness.start()
    for event in await harness.drive():
        assert isinstance(json.loads(event.data.model_dump_json()), dict)


async def test_cancel_cuts_short_a_wait_for_the_first_token(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="far too late", delay=30))
    run = await harness.start()
    claim = await harness.store.claim_next_run(OWNER, time.time(), 30.0)
    assert claim is not None
    events: list[Event] = []

    async def drain() -> None:
        async for event in harness.executor.execute(claim):
            events.append(event)

    task = asyncio.create_task(drain())
    await asyncio.sleep(0.05)  # the executor now waits for the model's first chunk
    await harness.services.runs.cancel(run.thread_id, run.id)
    await asyncio.wait_for(task, 1)
    assert names(events) == ["thread.run.in_progress", "thread.run.cancelled"]
    assert (await harness.get(run)).status == "cancelled"
    assert await harness.steps(run) == []


async def test_a_cancel_from_another_process_reaches_the_executor(harness: Harness) -> None:
    """Another process writes the cancel to the database; the worker's watch reads it."""
    harness.model.enqueue(Reply(text="far too late", delay=30))
    run = await harness.start()
    worker = Worker(harness.store, harness.executor, harness.bus, WorkerConfig(watch_interval=0.05))
    await worker.start(claim=True)
    try:
        deadline = time.monotonic() + 2
        while (await harness.get(run)).status != "in_progress":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        elsewhere = LocalBus()  # the other process's services, with a bus of their own
        await Services.over(harness.store, elsewhere, 600).runs.cancel(run.thread_id, run.id)
        while (await harness.get(run)).status != "cancelled":
            assert time.monotonic() < deadline, "the cancel was not seen within a second"
            await asyncio.sleep(0.01)
    finally:
        await worker.stop()


async def test_a_run_born_leased_for_a_stream_starts_without_a_status_write(
    harness: Harness,
) -> None:
    assistant = await harness.assistant()
    thread = await harness.thread("Hello")
    body = request(CreateRunRequest, assistant_id=assistant.id, stream=True)
    run = await harness.services.runs.create(thread.id, body, Lease(OWNER, time.time() + 30))
    assert (run.status, run.started_at is not None) == ("in_progress", True)
    assert await harness.store.claim_next_run("other", time.time(), 30.0) is None  # leased
    events = [e async for e in harness.executor.execute(Claim(run, 0, born=True))]
    assert names(events)[0] == "thread.run.in_progress"
    assert names(events)[-1] == "thread.run.completed"
    assert (await harness.get(run)).started_at == run.started_at


class HistoryCountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.history_reads = 0

    async def thread_history(self, thread_id: str) -> list[Message | RunStep]:
        self.history_reads += 1
        return await super().thread_history(thread_id)


async def test_a_new_threads_run_is_prompted_from_the_history_it_was_created_with() -> None:
    """A thread created with its run holds just the messages it was created with: the
    executor is handed them and reads nothing back before the model call."""
    store = HistoryCountingStore()
    harness = Harness(store=store)
    assistant = await harness.assistant()
    thread = {"messages": [{"role": "user", "content": "first"}, {"role": "user", "content": "x"}]}
    body = request(CreateThreadAndRunRequest, assistant_id=assistant.id, thread=thread)
    run, history = await harness.services.runs.create_thread_and_run(
        body, Lease(OWNER, time.time() + 30)
    )
    assert history == await MemoryStore.thread_history(store, run.thread_id)
    claim = Claim(run, 0, born=True, history=history)
    events = [e async for e in harness.executor.execute(claim)]
    assert names(events)[-1] == "thread.run.completed"
    assert store.history_reads == 0
    [sent] = harness.model.history
    assert [m["content"] for m in sent.messages] == ["first", "x"]


# An answer that comes whole (a run nobody streams asks the upstream for a whole completion)


async def test_a_whole_answer_is_stored_with_the_runs_end(harness: Harness) -> None:
    harness.model.enqueue(Reply(text="Hello there, friend", usage=(12, 4), whole=True))
    run = await harness.start("Hi")
    claim = await harness.store.claim_next_run(OWNER, time.time(), 30.0)
    assert claim is not None
    writes: list[str] = []
    insert_step, end_run = harness.store.insert_step, harness.store.end_run

    async def counted_insert(*args: Any, **kwargs: Any) -> None:
        writes.append("insert_step")
        await insert_step(*args, **kwargs)

    async def counted_end(*args: Any, **kwargs: Any) -> Any:
        writes.append("end_run")
        return await end_run(*args, **kwargs)

    harness.store.insert_step = counted_insert  # type: ignore[method-assign]
    harness.store.end_run = counted_end  # type: ignore[method-assign]
    events = [event async for event in harness.executor.execute(claim, watched=False)]
    assert writes == ["end_run"]
    assert names(events) == [
        "thread.run.in_progress",
        *MESSAGE_EVENTS,
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    message = await harness.reply(run)
    assert delta_text(events) == text_of(message) == "Hello there, friend"
    assert message.status == "completed"
    [step] = await harness.steps(run)
    assert (step.status, step.usage) == ("completed", usage(12, 4))
    assert harness.model.history[0].stream is False
    assert (await harness.get(run)).status == "completed"


async def test_a_whole_answer_with_tool_calls_is_stored_before_its_tool_step(
    harness: Harness,
) -> None:
    harness.model.enqueue(
        Reply(text="Let me look.", tool_calls=(("get_weather", '{"city": "Paris"}'),), whole=True)
    )
    run = await harness.start("Weather?", assistant={"tools": [WEATHER]})
    claim = await harness.store.claim_next_run(OWNER, time.time(), 30.0)
    assert claim is not None
    [event async for event in harness.executor.execute(claim, watched=False)]
    assert (await harness.get(run)).status == "requires_action"
    message = await harness.reply(run)
    assert (message.status, text_of(message)) == ("completed", "Let me look.")
    steps = await harness.steps(run)
    assert [(s.type, s.status) for s in steps] == [
        ("message_creation", "completed"),
        ("tool_calls", "in_progress"),
    ]
