"""Threads through the official SDK: created with their first messages, read, modified,
deleted with everything in them."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED
from tests.e2e.payloads import (
    IMAGE_FILE,
    IMAGE_URL,
    THREAD_TOOL_RESOURCES,
    attachments,
    expected_message,
    initial_messages,
    not_found,
    text,
)

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]


def test_create_empty_thread(client: openai.OpenAI) -> None:
    before = int(time.time())
    thread = client.beta.threads.create()
    assert thread.id.startswith("thread_")
    assert before <= thread.created_at <= int(time.time())
    assert thread.to_dict() == {
        "id": thread.id,
        "object": "thread",
        "created_at": thread.created_at,
        "tool_resources": {},
        "metadata": {},
    }
    messages = client.beta.threads.messages.list(thread.id)
    assert messages.to_dict() == {
        "object": "list",
        "data": [],
        "first_id": "",
        "last_id": "",
        "has_more": False,
    }


def test_create_with_tool_resources_and_metadata(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        tool_resources=THREAD_TOOL_RESOURCES, metadata={"user": "u1"}
    )
    assert thread.to_dict()["tool_resources"] == THREAD_TOOL_RESOURCES
    assert thread.metadata == {"user": "u1"}
    assert client.beta.threads.retrieve(thread.id).to_dict() == thread.to_dict()


def test_create_with_initial_messages(client: openai.OpenAI) -> None:
    attached = attachments(client)
    thread = client.beta.threads.create(messages=initial_messages(attached))
    listed = client.beta.threads.messages.list(thread.id, order="asc").data
    assert len(listed) == 3
    assert [m.to_dict() for m in listed] == [
        expected_message(thread, listed[0].id, content=[text("Hello there.")]),
        expected_message(
            thread,
            listed[1].id,
            content=[text("Look at these:"), IMAGE_FILE, IMAGE_URL],
            attachments=attached,
            metadata={"part": "2"},
        ),
        expected_message(thread, listed[2].id, role="assistant", content=[text("Nice pictures.")]),
    ]
    assert all(m.id.startswith("msg_") for m in listed)


def test_initial_messages_list_newest_first_by_default(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=initial_messages(attachments(client)))
    asc = [m.id for m in client.beta.threads.messages.list(thread.id, order="asc").data]
    desc = [m.id for m in client.beta.threads.messages.list(thread.id).data]
    assert desc == asc[::-1]


def test_retrieve_returns_what_create_returned(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(metadata={"a": "1"}, tool_resources=THREAD_TOOL_RESOURCES)
    assert client.beta.threads.retrieve(thread.id).to_dict() == thread.to_dict()


def test_modify_metadata_replaces_it_and_keeps_tool_resources(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        metadata={"a": "1", "b": "2"}, tool_resources=THREAD_TOOL_RESOURCES
    )
    modified = client.beta.threads.update(thread.id, metadata={"c": "3"})
    assert modified.to_dict() == {**thread.to_dict(), "metadata": {"c": "3"}}
    assert client.beta.threads.retrieve(thread.id).to_dict() == modified.to_dict()


def test_modify_tool_resources_keeps_metadata(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(metadata={"a": "1"}, tool_resources=THREAD_TOOL_RESOURCES)
    new_resources: Any = {"code_interpreter": {"file_ids": ["file-new"]}}
    modified = client.beta.threads.update(thread.id, tool_resources=new_resources)
    assert modified.to_dict() == {**thread.to_dict(), "tool_resources": new_resources}


def test_modify_with_nothing_changes_nothing(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(metadata={"a": "1"})
    assert client.beta.threads.update(thread.id).to_dict() == thread.to_dict()


def test_delete_removes_the_thread_and_its_messages(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=initial_messages(attachments(client)))
    message_id = client.beta.threads.messages.list(thread.id).data[0].id
    deleted = client.beta.threads.delete(thread.id)
    assert deleted.to_dict() == {"id": thread.id, "object": "thread.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.retrieve(thread.id)
    assert info.value.body == not_found("thread", thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message_id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError, match="No thread found"):
        client.beta.threads.messages.list(thread.id)


def test_delete_twice_is_not_found(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    client.beta.threads.delete(thread.id)
    with pytest.raises(openai.NotFoundError, match="No thread found with id"):
        client.beta.threads.delete(thread.id)


async def test_async_client_happy_path(async_client: openai.AsyncOpenAI) -> None:
    thread = await async_client.beta.threads.create(
        messages=[{"role": "user", "content": "hi"}], metadata={"k": "v"}
    )
    assert (await async_client.beta.threads.retrieve(thread.id)).metadata == {"k": "v"}
    modified = await async_client.beta.threads.update(thread.id, metadata={})
    assert modified.metadata == {}
    messages = [m async for m in async_client.beta.threads.messages.list(thread.id)]
    assert [m.content[0].to_dict() for m in messages] == [text("hi")]
    assert (await async_client.beta.threads.delete(thread.id)).deleted is True
