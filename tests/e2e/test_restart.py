"""Data outlives the process: stop a server with SIGTERM, start another on the same
database, and everything reads back identical."""

from __future__ import annotations

import signal
from typing import Any

import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED, Databases, ServerFactory, sdk_client
from tests.e2e.payloads import IMAGE_URL, THREAD_TOOL_RESOURCES, attachments, initial_messages

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

Snapshot = dict[str, Any]


def _populate(sdk: openai.OpenAI) -> list[str]:
    """Assistants, threads and messages in every shape; returns the thread ids."""
    tools: Any = [
        {"type": "code_interpreter"},
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
    ]
    kept = sdk.beta.assistants.create(
        model="gpt-4o", name="kept", tools=tools, metadata={"a": "1"}, temperature=0.3
    )
    sdk.beta.assistants.update(kept.id, instructions="Be brief.")
    gone = sdk.beta.assistants.create(model="gpt-4o", name="gone")
    sdk.beta.assistants.delete(gone.id)
    sdk.beta.assistants.create(model="m", response_format={"type": "json_object"})
    attached = attachments(sdk)
    full = sdk.beta.threads.create(
        messages=initial_messages(attached),
        tool_resources=THREAD_TOOL_RESOURCES,
        metadata={"t": "1"},
    )
    empty = sdk.beta.threads.create()
    parts: Any = [IMAGE_URL, {"type": "text", "text": "later"}]
    later = sdk.beta.threads.messages.create(
        full.id, role="user", content=parts, attachments=attached
    )
    sdk.beta.threads.messages.update(later.id, thread_id=full.id, metadata={"m": "2"})
    first = sdk.beta.threads.messages.list(full.id, order="asc").data[0]
    sdk.beta.threads.messages.delete(first.id, thread_id=full.id)
    return [full.id, empty.id]


def _snapshot(sdk: openai.OpenAI, thread_ids: list[str]) -> Snapshot:
    """Everything readable, in list order."""
    assistants = [a.to_dict() for a in sdk.beta.assistants.list(order="asc", limit=2)]
    threads = {
        thread_id: {
            "thread": sdk.beta.threads.retrieve(thread_id).to_dict(),
            "messages": [
                m.to_dict() for m in sdk.beta.threads.messages.list(thread_id, order="asc", limit=2)
            ],
        }
        for thread_id in thread_ids
    }
    return {"assistants": assistants, "threads": threads}


def _with_sqlite_scheme(url: str) -> str:
    """A plain SQLite path as the equivalent `sqlite:///` URL (PostgreSQL URLs unchanged)."""
    return url if "://" in url else f"sqlite:///{url}"


def test_everything_survives_a_restart(databases: Databases, server_factory: ServerFactory) -> None:
    url = databases.new()
    first = server_factory(url)
    with sdk_client(first.base_url) as sdk:
        thread_ids = _populate(sdk)
        before = _snapshot(sdk, thread_ids)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the status reports it.
    assert first.stop() in (0, -signal.SIGTERM), first.stderr()
    assert "Application shutdown complete" in first.stderr()
    # The second server names the same database the other way (URL vs path) for SQLite.
    second = server_factory(_with_sqlite_scheme(url))
    with sdk_client(second.base_url) as sdk:
        assert _snapshot(sdk, thread_ids) == before
    assert len(before["assistants"]) == 2
    assert [len(t["messages"]) for t in before["threads"].values()] == [3, 0]


def test_new_objects_sort_after_old_ones_after_a_restart(
    databases: Databases, server_factory: ServerFactory
) -> None:
    url = databases.new()
    first = server_factory(url)
    with sdk_client(first.base_url) as sdk:
        old = [sdk.beta.assistants.create(model="m").id for _ in range(3)]
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "old"}])
        old_message = sdk.beta.threads.messages.list(thread.id).data[0].id
    first.stop()
    second = server_factory(url)
    with sdk_client(second.base_url) as sdk:
        new = sdk.beta.assistants.create(model="m").id
        assert [a.id for a in sdk.beta.assistants.list(order="asc")] == [*old, new]
        added = sdk.beta.threads.messages.create(thread.id, role="user", content="new")
        listed = sdk.beta.threads.messages.list(thread.id)
        assert [m.id for m in listed.data] == [added.id, old_message]
