"""The rules of runs as the API applies them: defaults, the thread lock, cancel, tool
outputs, lookups and lists; then the same rules over HTTP with the embedded worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.runs.conftest import WEATHER, Harness, request, text_of
from threadline.app import create_app
from threadline.config import Settings
from threadline.errors import APIError, InvalidRequestError, NotFoundError
from threadline.protocol.common import ListQuery, wire_json
from threadline.protocol.messages import CreateMessageRequest
from threadline.protocol.runs import (
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    Run,
    SubmitToolOutputsRequest,
)
from threadline.services.steps import RESULT_CONTENT
from threadline.store.memory import MemoryStore
from threadline.testing import FakeModel, Reply

PARIS = '{"city": "Paris"}'
CODE_INTERPRETER = {"type": "code_interpreter"}


@pytest.fixture
def harness() -> Harness:
    return Harness()


def error_of(caught: pytest.ExceptionInfo[APIError]) -> dict[str, Any]:
    error: dict[str, Any] = caught.value.body()["error"]
    return error


def invalid(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


async def waiting_run(harness: Harness, *calls: str) -> Run:
    """A run in requires_action on `get_weather` calls with the given arguments."""
    harness.model.enqueue(Reply(tool_calls=tuple(("get_weather", c) for c in calls or (PARIS,))))
    run = await harness.start(assistant={"tools": [WEATHER]})
    await harness.drive()
    waiting = await harness.get(run)
    assert waiting.status == "requires_action"
    return waiting


def call_ids(run: Run) -> list[str]:
    assert run.required_action is not None
    return [call.id for call in run.required_action.submit_tool_outputs.tool_calls]


def outputs(*pairs: tuple[str | None, str]) -> SubmitToolOutputsRequest:
    return SubmitToolOutputsRequest.model_validate(
        {"tool_outputs": [{"tool_call_id": i, "output": o} for i, o in pairs]}
    )


# Defaults


async def test_a_run_takes_its_defaults_from_the_assistant(harness: Harness) -> None:
    assistant = await harness.assistant(instructions="Be helpful.", tools=[WEATHER])
    thread = await harness.thread("Hi")
    run = await harness.run(thread.id, assistant.id)
    assert json.loads(wire_json(run)) == {
        "id": run.id,
        "object": "thread.run",
        "created_at": run.created_at,
        "thread_id": thread.id,
        "assistant_id": assistant.id,
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": run.created_at + 600,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": "fake-model",
        "instructions": "Be helpful.",
        "tools": [WEATHER],
        "metadata": {},
        "usage": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    assert abs(run.created_at - time.time()) < 5


async def test_overrides_replace_the_assistant_settings(harness: Harness) -> None:
    assistant = await harness.assistant(
        instructions="Be helpful.", tools=[WEATHER], temperature=0.3, top_p=0.9
    )
    thread = await harness.thread("Hi")
    run = await harness.run(
        thread.id,
        assistant.id,
        model="other-model",
        instructions="Be terse.",
        tools=[CODE_INTERPRETER],
        metadata={"k": "v"},
        temperature=0.5,
        top_p=0.4,
        max_prompt_tokens=1000,
        max_completion_tokens=500,
        truncation_strategy={"type": "last_messages", "last_messages": 3},
        tool_choice="required",
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
    )
    assert (run.model, run.instructions) == ("other-model", "Be terse.")
    assert [tool.type for tool in run.tools] == ["code_interpreter"]
    assert (run.metadata, run.temperature, run.top_p) == ({"k": "v"}, 0.5, 0.4)
    assert (run.max_prompt_tokens, run.max_completion_tokens) == (1000, 500)
    assert run.truncation_strategy is not None
    assert run.truncation_strategy.model_dump() == {"type": "last_messages", "last_messages": 3}
    assert (run.tool_choice, run.parallel_tool_calls) == ("required", False)
    assert json.loads(wire_json(run))["response_format"] == {"type": "json_object"}


async def test_the_assistant_sampling_settings_apply_when_the_run_has_none(
    harness: Harness,
) -> None:
    assistant = await harness.assistant(temperature=0.3, top_p=0.9)
    run = await harness.run((await harness.thread()).id, assistant.id)
    assert (run.temperature, run.top_p) == (0.3, 0.9)


async def test_an_empty_tools_list_replaces_the_assistant_tools(harness: Harness) -> None:
    assistant = await harness.assistant(tools=[WEATHER])
    run = await harness.run((await harness.thread()).id, assistant.id, tools=[])
    assert run.tools == []


FRENCH = {"additional_instructions": "Answer in French."}


@pytest.mark.parametrize(
    ("assistant_instructions", "run_fields", "expected"),
    [
        ("Be helpful.", FRENCH, "Be helpful.\n\nAnswer in French."),
        (None, FRENCH, "Answer in French."),
        ("Be helpful.", FRENCH | {"instructions": "Be terse."}, "Be terse.\n\nAnswer in French."),
        (None, {}, ""),
        ("Be helpful.", {"instructions": ""}, ""),
    ],
)
async def test_additional_instructions_are_appended(
    harness: Harness,
    assistant_instructions: str | None,
    run_fields: dict[str, Any],
    expected: str,
) -> None:
    assistant = await harness.assistant(instructions=assistant_instructions)
    run = await harness.run((await harness.thread()).id, assistant.id, **run_fields)
    assert run.instructions == expected


async def test_the_expiry_comes_from_the_services(harness: Harness) -> None:
    harness.expiry_seconds = 60
    run = await harness.start()
    assert run.expires_at == run.created_at + 60


async def test_usage_is_null_on_the_wire_until_the_run_ends(harness: Harness) -> None:
    waiting = await waiting_run(harness)
    assert waiting.usage is not None
    assert json.loads(wire_json(waiting))["usage"] is None
    [step] = await harness.steps(waiting)
    assert json.loads(wire_json(step))["usage"] is None
    harness.model.enqueue(Reply(text="Sunny.", usage=(20, 3)))
    await harness.submit(waiting, {call_ids(waiting)[0]: "sunny"})
    await harness.drive()
    final = json.loads(wire_json(await harness.get(waiting)))
    assert final["usage"] == {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38}


async def test_additional_messages_join_the_thread_before_the_run(harness: Harness) -> None:
    assistant = await harness.assistant()
    thread = await harness.thread("First")
    extra = [{"role": "user", "content": "Second"}, {"role": "assistant", "content": "Third"}]
    run = await harness.run(thread.id, assistant.id, additional_messages=extra)
    messages = await harness.messages(run)
    assert [(m.role, text_of(m)) for m in messages] == [
        ("user", "First"),
        ("user", "Second"),
        ("assistant", "Third"),
    ]
    assert all(m.run_id is None and m.created_at == run.created_at for m in messages[1:])
    harness.model.enqueue(Reply(text="ok"))
    await harness.drive()
    assert harness.model.history[0].messages == [
        {"role": "user", "content": "First"},
        {"role": "user", "content": "Second"},
        {"role": "assistant", "content": "Third"},
    ]


async def test_create_thread_and_run(harness: Harness) -> None:
    assistant = await harness.assistant(instructions="Be helpful.")
    body = request(
        CreateThreadAndRunRequest,
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hi"}], "metadata": {"a": "b"}},
        metadata={"run": "1"},
    )
    run, _ = await harness.services.runs.create_thread_and_run(body)
    thread = await harness.services.threads.get(run.thread_id)
    assert thread.metadata == {"a": "b"}
    assert (run.status, run.instructions, run.metadata) == ("queued", "Be helpful.", {"run": "1"})
    assert [text_of(m) for m in await harness.messages(run)] == ["Hi"]
    harness.model.enqueue(Reply(text="Hello!"))
    await harness.drive()
    assert (await harness.get(run)).status == "completed"
    assert [text_of(m) for m in await harness.messages(run)] == ["Hi", "Hello!"]


async def test_create_thread_and_run_without_a_thread(harness: Harness) -> None:
    assistant = await harness.assistant()
    body = request(CreateThreadAndRunRequest, assistant_id=assistant.id)
    run, _ = await harness.services.runs.create_thread_and_run(body)
    thread = await harness.services.threads.get(run.thread_id)
    assert thread.metadata == {}
    assert await harness.messages(run) == []


# The thread lock


async def test_a_thread_takes_one_active_run_at_a_time(harness: Harness) -> None:
    run = await harness.start()
    with pytest.raises(InvalidRequestError) as caught:
        await harness.run(run.thread_id, run.assistant_id)
    assert caught.value.status_code == 400
    assert error_of(caught) == invalid(
        f"Thread {run.thread_id} already has an active run {run.id}."
    )
    assert len((await harness.store.list_runs(run.thread_id, ListQuery())).data) == 1


async def test_a_busy_thread_keeps_the_additional_messages_out(harness: Harness) -> None:
    run = await harness.start("Hi")
    with pytest.raises(InvalidRequestError):
        await harness.run(
            run.thread_id, run.assistant_id, additional_messages=[{"role": "user", "content": "x"}]
        )
    assert [text_of(m) for m in await harness.messages(run)] == ["Hi"]


async def test_a_run_waiting_for_outputs_holds_the_lock(harness: Harness) -> None:
    run = await waiting_run(harness)
    with pytest.raises(InvalidRequestError) as caught:
        await harness.run(run.thread_id, run.assistant_id)
    assert caught.value.message == f"Thread {run.thread_id} already has an active run {run.id}."
    with pytest.raises(InvalidRequestError) as caught:
        await add_message(harness, run.thread_id)
    assert error_of(caught) == invalid(
        f"Can't add messages to {run.thread_id} while a run {run.id} is active."
    )


async def add_message(harness: Harness, thread_id: str) -> None:
    body = request(CreateMessageRequest, role="user", content="More")
    await harness.services.messages.create(thread_id, body)


async def test_messages_wait_for_the_active_run(harness: Harness) -> None:
    run = await harness.start("Hi")
    with pytest.raises(InvalidRequestError) as caught:
        await add_message(harness, run.thread_id)
    assert caught.value.status_code == 400
    assert error_of(caught) == invalid(
        f"Can't add messages to {run.thread_id} while a run {run.id} is active."
    )
    harness.model.enqueue(Reply(text="Hello"))
    await harness.drive()
    await add_message(harness, run.thread_id)
    second = await harness.run(run.thread_id, run.assistant_id)
    assert second.status == "queued"


async def test_a_thread_is_free_again_once_its_run_ended(harness: Harness) -> None:
    run = await harness.start()
    await harness.services.runs.cancel(run.thread_id, run.id)
    with pytest.raises(InvalidRequestError):
        await add_message(harness, run.thread_id)  # cancelling still holds the lock
    await harness.drive()
    await add_message(harness, run.thread_id)


# Cancel


async def test_cancelling_a_queued_run(harness: Harness) -> None:
    run = await harness.start()
    cancelling = await harness.services.runs.cancel(run.thread_id, run.id)
    assert (cancelling.status, cancelling.cancelled_at) == ("cancelling", None)
    await harness.drive()
    final = await harness.get(run)
    assert final.status == "cancelled"
    assert final.cancelled_at is not None
    assert (final.started_at, final.expires_at) == (None, None)
    assert harness.model.history == []


async def test_cancelling_a_run_waiting_for_outputs(harness: Harness) -> None:
    run = await waiting_run(harness)
    cancelling = await harness.services.runs.cancel(run.thread_id, run.id)
    assert (cancelling.status, cancelling.required_action) == ("cancelling", None)
    events = await harness.drive()
    assert [e.event for e in events] == ["thread.run.step.cancelled", "thread.run.cancelled"]
    assert (await harness.get(run)).status == "cancelled"
    [step] = await harness.steps(run)
    assert step.status == "cancelled"
    assert step.cancelled_at is not None


@pytest.mark.parametrize("status", ["completed", "cancelled", "failed"])
async def test_an_ended_run_cannot_be_cancelled(harness: Harness, status: str) -> None:
    run = await harness.start()
    if status == "cancelled":
        await harness.services.runs.cancel(run.thread_id, run.id)
    elif status == "failed":
        harness.model.enqueue(Reply(error="server_error"))
    await harness.drive()
    assert (await harness.get(run)).status == status
    with pytest.raises(InvalidRequestError) as caught:
        await harness.services.runs.cancel(run.thread_id, run.id)
    assert error_of(caught) == invalid(f"Cannot cancel run with status '{status}'.")


async def test_a_cancelling_run_cannot_be_cancelled_twice(harness: Harness) -> None:
    run = await harness.start()
    await harness.services.runs.cancel(run.thread_id, run.id)
    with pytest.raises(InvalidRequestError) as caught:
        await harness.services.runs.cancel(run.thread_id, run.id)
    assert caught.value.message == "Cannot cancel run with status 'cancelling'."


# Tool outputs


async def test_outputs_requeue_the_run_with_the_outputs_on_the_step(harness: Harness) -> None:
    run = await waiting_run(harness, PARIS, '{"city": "Oslo"}')
    first, second = call_ids(run)
    queued = await harness.services.runs.submit_tool_outputs(
        run.thread_id, run.id, outputs((second, "5C"), (first, "22C"))
    )
    assert (queued.status, queued.required_action) == ("queued", None)
    assert queued.expires_at == run.expires_at
    [step] = await harness.steps(run)
    assert step.status == "in_progress"
    assert json.loads(wire_json(step))["step_details"]["tool_calls"] == [
        {
            "id": first,
            "type": "function",
            "function": {"name": "get_weather", "arguments": PARIS, "output": "22C"},
        },
        {
            "id": second,
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}', "output": "5C"},
        },
    ]


async def test_outputs_for_unknown_calls_are_refused(harness: Harness) -> None:
    run = await waiting_run(harness)
    [call_id] = call_ids(run)
    with pytest.raises(InvalidRequestError) as caught:
        await harness.services.runs.submit_tool_outputs(
            run.thread_id, run.id, outputs(("call_nope", "x"))
        )
    assert error_of(caught) == invalid(
        f"Expected tool outputs for call_ids ['{call_id}'], got ['call_nope'].", "tool_outputs"
    )
    assert (await harness.get(run)).status == "requires_action"


async def test_outputs_must_answer_every_call(harness: Harness) -> None:
    run = await waiting_run(harness, PARIS, '{"city": "Oslo"}')
    first, second = call_ids(run)
    with pytest.raises(InvalidRequestError) as caught:
        await harness.services.runs.submit_tool_outputs(
            run.thread_id, run.id, outputs((first, "22C"))
        )
    assert caught.value.message == (
        f"Expected tool outputs for call_ids ['{first}', '{second}'], got ['{first}']."
    )
    [step] = await harness.steps(run)
    assert step.status == "in_progress"
    assert (
        json.loads(wire_json(step))["step_details"]["tool_calls"][0]["function"]["output"] is None
    )


async def test_an_output_without_a_call_id_is_refused(harness: Harness) -> None:
    run = await waiting_run(harness)
    with pytest.raises(InvalidRequestError) as caught:
        await harness.services.runs.submit_tool_outputs(run.thread_id, run.id, outputs((None, "x")))
    assert error_of(caught) == invalid(
        "Missing required parameter: 'tool_outputs[].tool_call_id'.",
        "tool_outputs",
        "missing_required_parameter",
    )


@pytest.mark.parametrize("status", ["queued", "completed"])
async def test_only_a_run_waiting_for_outputs_takes_them(harness: Harness, status: str) -> None:
    run = await harness.start()
    if status == "completed":
        await harness.drive()
    with pytest.raises(InvalidRequestError) as caught:
        await harness.services.runs.submit_tool_outputs(
            run.thread_id, run.id, outputs(("call_x", "x"))
        )
    assert error_of(caught) == invalid(f'Runs in status "{status}" do not accept tool outputs.')


async def test_outputs_are_taken_once(harness: Harness) -> None:
    run = await waiting_run(harness)
    [call_id] = call_ids(run)
    await harness.submit(run, {call_id: "22C"})
    with pytest.raises(InvalidRequestError) as caught:
        await harness.submit(run, {call_id: "23C"})
    assert caught.value.message == 'Runs in status "queued" do not accept tool outputs.'


# Modify


async def test_modify_sets_metadata_only(harness: Harness) -> None:
    run = await harness.start(metadata={"a": "1"})
    runs = harness.services.runs
    changed = await runs.modify(
        run.thread_id, run.id, request(ModifyRunRequest, metadata={"b": "2"})
    )
    assert changed.metadata == {"b": "2"}
    assert (await harness.get(run)).metadata == {"b": "2"}
    same = await runs.modify(run.thread_id, run.id, request(ModifyRunRequest))
    assert same.metadata == {"b": "2"}
    cleared = await runs.modify(run.thread_id, run.id, request(ModifyRunRequest, metadata=None))
    assert cleared.metadata == {}
    assert cleared.status == "queued"


# Lookups


async def test_unknown_ids_are_404_with_openai_texts(harness: Harness) -> None:
    run = await harness.start()
    runs, steps = harness.services.runs, harness.services.steps
    no_run, no_thread = "No run found with id 'run_x'.", "No thread found with id 'thread_x'."
    none: frozenset[str] = frozenset()
    cases: list[tuple[Any, str]] = [
        (runs.get(run.thread_id, "run_x"), no_run),
        (runs.get("thread_x", run.id), no_thread),
        (runs.cancel(run.thread_id, "run_x"), no_run),
        (runs.submit_tool_outputs(run.thread_id, "run_x", outputs()), no_run),
        (runs.modify(run.thread_id, "run_x", ModifyRunRequest()), no_run),
        (runs.list("thread_x", ListQuery()), no_thread),
        (harness.run("thread_x", run.assistant_id), no_thread),
        (harness.run(run.thread_id, "asst_x"), "No assistant found with id 'asst_x'."),
        (steps.list(run.thread_id, "run_x", ListQuery(), none), no_run),
        (steps.list("thread_x", "run_x", ListQuery(), none), no_thread),
        (steps.get(run.thread_id, run.id, "step_x", none), "No run step found with id 'step_x'."),
        (steps.get(run.thread_id, "run_x", "step_x", none), no_run),
    ]
    for call, message in cases:
        with pytest.raises(NotFoundError) as caught:
            await call
        assert caught.value.status_code == 404
        assert error_of(caught) == invalid(message)


async def test_create_thread_and_run_checks_the_assistant(harness: Harness) -> None:
    body = request(CreateThreadAndRunRequest, assistant_id="asst_x")
    with pytest.raises(NotFoundError) as caught:
        await harness.services.runs.create_thread_and_run(body)
    assert caught.value.message == "No assistant found with id 'asst_x'."
    assert harness.store._threads.rows == {}  # no thread was created (no public listing)


# Lists


async def test_runs_list_newest_first_in_pages(harness: Harness) -> None:
    assistant = await harness.assistant()
    thread = await harness.thread("Hi")
    ids = []
    for _ in range(3):
        ids.append((await harness.run(thread.id, assistant.id)).id)
        await harness.drive()
    runs = harness.services.runs

    page = await runs.list(thread.id, ListQuery(limit=2))
    assert [r.id for r in page.data] == [ids[2], ids[1]]
    assert (page.first_id, page.last_id, page.has_more) == (ids[2], ids[1], True)
    rest = await runs.list(thread.id, ListQuery(limit=2, after=ids[1]))
    assert ([r.id for r in rest.data], rest.has_more) == ([ids[0]], False)
    ascending = await runs.list(thread.id, ListQuery(order="asc"))
    assert [r.id for r in ascending.data] == ids
    before = await runs.list(thread.id, ListQuery(order="asc", before=ids[2]))
    assert [r.id for r in before.data] == ids[:2]
    with pytest.raises(InvalidRequestError) as caught:
        await runs.list(thread.id, ListQuery(after="run_x"))
    assert error_of(caught) == invalid(
        "Invalid 'after': no object with id 'run_x' was found in this list.",
        "after",
        "invalid_value",
    )


async def test_an_empty_runs_list(harness: Harness) -> None:
    thread = await harness.thread()
    page = await harness.services.runs.list(thread.id, ListQuery())
    assert (page.data, page.first_id, page.last_id, page.has_more) == ([], "", "", False)


async def test_steps_list_in_pages(harness: Harness) -> None:
    harness.model.enqueue(
        Reply(tool_calls=(("code_interpreter", '{"code": "1"}'),)),
        Reply(tool_calls=(("code_interpreter", '{"code": "2"}'),)),
        Reply(text="Done."),
    )
    run = await harness.start(assistant={"tools": [CODE_INTERPRETER]})
    await harness.drive()
    ids = [step.id for step in await harness.steps(run)]
    assert len(ids) == 3
    steps = harness.services.steps
    page = await steps.list(run.thread_id, run.id, ListQuery(limit=2), frozenset())
    assert ([s.id for s in page.data], page.has_more) == ([ids[2], ids[1]], True)
    rest = await steps.list(run.thread_id, run.id, ListQuery(after=ids[1]), frozenset())
    assert ([s.id for s in rest.data], rest.has_more) == ([ids[0]], False)
    ascending = await steps.list(run.thread_id, run.id, ListQuery(order="asc"), frozenset())
    assert [s.id for s in ascending.data] == ids
    one = await steps.get(run.thread_id, run.id, ids[0], frozenset({RESULT_CONTENT}))
    assert one.type == "tool_calls"


# Over HTTP, with the embedded worker


@pytest.fixture
def model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def client(model: FakeModel) -> Iterator[TestClient]:
    app = create_app(Settings(_env_file=None), store=MemoryStore(), model=model)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient, path: str, body: dict[str, Any] | None = None) -> Any:
    response = client.post(f"/v1{path}", json=body or {})
    assert response.status_code == 200, response.text
    return response.json()


def failing(client: TestClient, path: str, body: dict[str, Any], status: int = 400) -> Any:
    response = client.post(f"/v1{path}", json=body)
    assert response.status_code == status, response.text
    return response.json()["error"]


def poll(client: TestClient, thread_id: str, run_id: str) -> Any:
    deadline = time.monotonic() + 1.5
    while True:
        run = client.get(f"/v1/threads/{thread_id}/runs/{run_id}").json()
        if run["status"] not in ("queued", "in_progress", "cancelling"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.01)


def started(client: TestClient) -> tuple[str, str]:
    assistant = post(client, "/assistants", {"model": "fake-model"})
    thread = post(client, "/threads", {"messages": [{"role": "user", "content": "Hello"}]})
    return assistant["id"], thread["id"]


def test_a_run_over_http_completes_with_the_model_reply(client: TestClient) -> None:
    assistant_id, thread_id = started(client)
    run = post(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    assert run["status"] == "queued"
    final = poll(client, thread_id, run["id"])
    assert final["status"] == "completed"
    assert final["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    messages = client.get(f"/v1/threads/{thread_id}/messages", params={"run_id": run["id"]})
    [message] = messages.json()["data"]
    assert message["content"][0]["text"]["value"] == "Echo: Hello"
    steps = client.get(f"/v1/threads/{thread_id}/runs/{run['id']}/steps").json()
    [step] = steps["data"]
    assert step["step_details"]["message_creation"]["message_id"] == message["id"]


def test_tool_outputs_and_the_thread_lock_over_http(client: TestClient, model: FakeModel) -> None:
    model.enqueue(Reply(tool_calls=(("get_weather", PARIS),)), Reply(text="Sunny."))
    assistant = post(client, "/assistants", {"model": "fake-model", "tools": [WEATHER]})
    thread_id = post(client, "/threads")["id"]
    run = post(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant["id"]})
    runs = f"/threads/{thread_id}/runs"
    waiting = poll(client, thread_id, run["id"])
    assert waiting["status"] == "requires_action"
    assert waiting["usage"] is None
    [call] = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]

    assert failing(client, runs, {"assistant_id": assistant["id"]}) == invalid(
        f"Thread {thread_id} already has an active run {run['id']}."
    )
    message = {"role": "user", "content": "More"}
    assert failing(client, f"/threads/{thread_id}/messages", message) == invalid(
        f"Can't add messages to {thread_id} while a run {run['id']} is active."
    )
    submit = {"tool_outputs": [{"tool_call_id": call["id"], "output": "sunny"}]}
    queued = post(client, f"{runs}/{run['id']}/submit_tool_outputs", submit)
    assert queued["status"] in ("queued", "in_progress", "completed")
    assert poll(client, thread_id, run["id"])["status"] == "completed"
    post(client, f"/threads/{thread_id}/messages", message)


def test_http_errors_for_runs(client: TestClient) -> None:
    assistant_id, thread_id = started(client)
    run = post(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    assert poll(client, thread_id, run["id"])["status"] == "completed"
    assert failing(client, f"/threads/{thread_id}/runs/{run['id']}/cancel", {}) == invalid(
        "Cannot cancel run with status 'completed'."
    )
    submit = {"tool_outputs": [{"tool_call_id": "call_x", "output": "x"}]}
    assert failing(
        client, f"/threads/{thread_id}/runs/{run['id']}/submit_tool_outputs", submit
    ) == (invalid('Runs in status "completed" do not accept tool outputs.'))
    missing = client.get(f"/v1/threads/{thread_id}/runs/run_x")
    assert missing.status_code == 404
    assert missing.json()["error"] == invalid("No run found with id 'run_x'.")
    modified = post(client, f"/threads/{thread_id}/runs/{run['id']}", {"metadata": {"k": "v"}})
    assert modified["metadata"] == {"k": "v"}


def test_include_is_checked(client: TestClient) -> None:
    assistant_id, thread_id = started(client)
    run = post(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    poll(client, thread_id, run["id"])
    steps = f"/v1/threads/{thread_id}/runs/{run['id']}/steps"
    expected = invalid(
        f"Invalid value: 'nope'. Supported values are: '{RESULT_CONTENT}'.",
        "include",
        "invalid_value",
    )
    for response in [
        client.get(steps, params={"include[]": "nope"}),
        client.get(steps, params=[("include[]", RESULT_CONTENT), ("include[]", "nope")]),
        client.post(
            f"/v1/threads/{thread_id}/runs",
            params={"include[]": "nope"},
            json={"assistant_id": assistant_id},
        ),
    ]:
        assert response.status_code == 400
        assert response.json()["error"] == expected
    ok = client.get(steps, params={"include[]": RESULT_CONTENT})
    assert ok.status_code == 200
    [step] = ok.json()["data"]
    one = client.get(f"{steps}/{step['id']}", params={"include[]": RESULT_CONTENT})
    assert one.json() == step
    bad = client.get(f"{steps}/{step['id']}", params={"include[]": "nope"})
    assert bad.json()["error"] == expected


def test_create_thread_and_run_over_http(client: TestClient) -> None:
    assistant = post(client, "/assistants", {"model": "fake-model"})
    body = {
        "assistant_id": assistant["id"],
        "thread": {"messages": [{"role": "user", "content": "Hi"}]},
    }
    run = post(client, "/threads/runs", body)
    final = poll(client, run["thread_id"], run["id"])
    assert final["status"] == "completed"
    listed = client.get(f"/v1/threads/{run['thread_id']}/runs").json()
    assert [r["id"] for r in listed["data"]] == [run["id"]]
