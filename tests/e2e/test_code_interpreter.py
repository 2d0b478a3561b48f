"""The code_interpreter tool inside runs, through the official SDK against `threadline
serve`: a scripted upstream calls it, the code runs in the real bubblewrap sandbox with the
assistant's file in /mnt/data, and a figure and a written file come back to the user."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED
from tests.openapi_check import parse_sse, validate_stream_event
from tests.sandbox.conftest import sandbox_skip_reason
from threadline.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

NUMBERS = b"n\n1\n2\n3\n4\n"
CODE = """\
import pandas as pd
import matplotlib.pyplot as plt
frame = pd.read_csv('/mnt/data/numbers.csv')
print('total', frame.n.sum())
frame.plot()
plt.show()
(frame * 10).to_csv('/mnt/data/tens.csv', index=False)
"""
ANSWER = "The total is 10. Download [tens.csv](sandbox:/mnt/data/tens.csv)."


@pytest.fixture(autouse=True)
def sandbox_here() -> None:
    reason = sandbox_skip_reason()
    if reason is not None:
        pytest.skip(reason)


def _assistant(client: openai.OpenAI, upstream: FakeUpstream) -> Any:
    upstream.reset()
    numbers = client.files.create(file=("numbers.csv", NUMBERS), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="fake-model",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [numbers.id]}},
    )
    upstream.enqueue(
        {"tool_calls": [{"name": "code_interpreter", "arguments": json.dumps({"code": CODE})}]},
        {"text": ANSWER},
    )
    return assistant


def test_a_streamed_run_runs_code_and_returns_a_figure_and_a_file(
    client: openai.OpenAI, http: httpx.Client, upstream: FakeUpstream
) -> None:
    assistant = _assistant(client, upstream)
    body = {
        "assistant_id": assistant.id,
        "thread": {"messages": [{"role": "user", "content": "Sum and plot my numbers."}]},
        "stream": True,
    }
    with http.stream("POST", "threads/runs", json=body) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    frames = parse_sse(raw)
    for event, data in frames[:-1]:
        validate_stream_event(event, json.loads(data))
    events = [event for event, _ in frames]
    assert "thread.run.completed" in events, frames[-3:]
    deltas = [json.loads(d)["delta"] for e, d in frames if e == "thread.run.step.delta"]
    calls = [c for d in deltas for c in d["step_details"]["tool_calls"]]
    assert calls[0]["type"] == "code_interpreter"
    assert calls[0]["code_interpreter"] == {"input": CODE, "outputs": []}
    outputs = calls[-1]["code_interpreter"]["outputs"]
    assert [o["type"] for o in outputs] == ["logs", "image"]
    assert "total 10" in outputs[0]["logs"]

    created = next(json.loads(d) for e, d in frames if e == "thread.run.created")
    thread_id, run_id = created["thread_id"], created["id"]
    # The model read the cell's output before it answered.
    tool_message = upstream.history[-1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "total 10" in tool_message["content"]

    steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc").data
    details = steps[0].step_details
    assert details.type == "tool_calls"
    [call] = details.tool_calls
    assert call.type == "code_interpreter"
    assert call.code_interpreter.input == CODE
    logs, image = call.code_interpreter.outputs
    assert logs.type == "logs"
    assert "total 10" in logs.logs
    assert image.type == "image"
    png = client.files.content(image.image.file_id).read()
    assert png.startswith(b"\x89PNG")
    assert client.files.retrieve(image.image.file_id).purpose == "assistants_output"

    [message] = client.beta.threads.messages.list(thread_id, run_id=run_id).data
    text, figure = message.content
    assert text.type == "text"
    assert text.text.value == ANSWER
    [annotation] = text.text.annotations
    assert annotation.type == "file_path"
    assert annotation.text == "sandbox:/mnt/data/tens.csv"
    assert ANSWER[annotation.start_index : annotation.end_index] == annotation.text
    written = client.files.retrieve(annotation.file_path.file_id)
    assert (written.filename, written.purpose) == ("tens.csv", "assistants_output")
    assert client.files.content(written.id).read() == b"n\n10\n20\n30\n40\n"
    assert figure.type == "image_file"
    assert figure.image_file.file_id == image.image.file_id


def test_state_persists_attachments_arrive_and_errors_are_outputs(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.reset()
    assistant = client.beta.assistants.create(
        model="fake-model", tools=[{"type": "code_interpreter"}]
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go."}])
    code = json.dumps({"code": "secret = 6 * 7"})
    upstream.enqueue(
        {"tool_calls": [{"name": "code_interpreter", "arguments": code}]}, {"text": "Set."}
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error

    notes = client.files.create(file=("notes.txt", b"attached"), purpose="assistants")
    attachments: Any = [{"file_id": notes.id, "tools": [{"type": "code_interpreter"}]}]
    client.beta.threads.messages.create(
        thread.id, role="user", content="Again.", attachments=attachments
    )
    code = json.dumps(
        {"code": "print(secret)\nprint(open('/mnt/data/notes.txt').read())\nopen('/etc/shadow')"}
    )
    upstream.enqueue(
        {"tool_calls": [{"name": "code_interpreter", "arguments": code}]}, {"text": "Done."}
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    details = steps[0].step_details
    assert details.type == "tool_calls"
    [call] = details.tool_calls
    assert call.type == "code_interpreter"
    [logs] = call.code_interpreter.outputs
    assert logs.type == "logs"
    assert logs.logs.startswith("42\nattached\n")
    assert "FileNotFoundError" in logs.logs
