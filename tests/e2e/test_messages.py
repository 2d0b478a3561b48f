"""Messages through the official SDK: create, list (pages, run filter), read, modify,
delete."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from openai.types.beta import Thread

from tests.e2e.harness import SDK_DEPRECATED
from tests.e2e.payloads import (
    IMAGE_FILE,
    IMAGE_URL,
    attachments,
    cursors,
    expected_message,
    not_found,
    text,
)

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]


def _thread_with(client: openai.OpenAI, count: int) -> tuple[Thread, list[str]]:
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
        for i in range(count)
    ]
    return thread, ids


def test_create_text_message(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    before = int(time.time())
    message = client.beta.threads.messages.create(thread.id, role="user", content="Hi!")
    assert before <= message.created_at <= int(time.time())
    assert message.id.startswith("msg_")
    expected = expected_message(thread, message.id, content=[text("Hi!")])
    assert message.to_dict() == {**expected, "created_at": message.created_at}


def test_create_with_content_parts_attachments_and_metadata(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    attached = attachments(client)
    parts: Any = [{"type": "text", "text": "See:"}, IMAGE_FILE, IMAGE_URL]
    message = client.beta.threads.messages.create(
        thread.id, role="assistant", content=parts, attachments=attached, metadata={"k": "v"}
    )
    assert message.to_dict() == {
        **expected_message(thread, message.id),
        "created_at": message.created_at,
        "role": "assistant",
        "content": [text("See:"), IMAGE_FILE, IMAGE_URL],
        "attachments": attached,
        "metadata": {"k": "v"},
    }


def test_image_parts_without_detail(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    parts: Any = [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_file", "image_file": {"file_id": "file-x"}},
    ]
    message = client.beta.threads.messages.create(thread.id, role="user", content=parts)
    assert message.to_dict()["content"] == parts


def test_retrieve_returns_what_create_returned(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="user", content="x")
    fetched = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched.to_dict() == message.to_dict()


def test_list_pages_in_both_orders(client: openai.OpenAI) -> None:
    thread, ids = _thread_with(client, 5)
    messages = client.beta.threads.messages
    first = messages.list(thread.id, order="asc", limit=2)
    assert [m.id for m in first.data] == ids[:2]
    assert cursors(first) == (ids[0], ids[1], True)
    rest = messages.list(thread.id, order="asc", after=ids[1], limit=10)
    assert [m.id for m in rest.data] == ids[2:]
    assert rest.has_more is False
    desc = messages.list(thread.id, limit=2)
    assert [m.id for m in desc.data] == [ids[4], ids[3]]
    newer = messages.list(thread.id, order="desc", before=ids[1], limit=2)
    assert [m.id for m in newer.data] == [ids[3], ids[2]]
    assert newer.has_more is True


def test_auto_pagination_yields_each_message_once_in_order(client: openai.OpenAI) -> None:
    thread, ids = _thread_with(client, 7)
    walked = [m.id for m in client.beta.threads.messages.list(thread.id, limit=2, order="asc")]
    assert walked == ids
    walked_desc = [m.id for m in client.beta.threads.messages.list(thread.id, limit=3)]
    assert walked_desc == ids[::-1]


def test_lists_stay_within_their_thread(client: openai.OpenAI) -> None:
    first, first_ids = _thread_with(client, 2)
    second, second_ids = _thread_with(client, 2)
    listed = client.beta.threads.messages.list(second.id, order="asc")
    assert [m.id for m in listed.data] == second_ids
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.messages.retrieve(first_ids[0], thread_id=second.id)
    assert info.value.body == not_found("message", first_ids[0])
    assert first.id != second.id


def test_run_id_filter(client: openai.OpenAI) -> None:
    thread, _ = _thread_with(client, 2)
    page = client.beta.threads.messages.list(thread.id, run_id="run_abc123")
    assert page.to_dict() == {
        "object": "list",
        "data": [],
        "first_id": "",
        "last_id": "",
        "has_more": False,
    }
    assert all(m.run_id is None for m in client.beta.threads.messages.list(thread.id))


def test_modify_replaces_metadata(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id, role="user", content="x", metadata={"a": "1", "b": "2"}
    )
    modified = client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"c": "3"}
    )
    assert modified.to_dict() == {**message.to_dict(), "metadata": {"c": "3"}}
    fetched = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched.to_dict() == modified.to_dict()


def test_delete_then_retrieve_is_not_found(client: openai.OpenAI) -> None:
    thread, ids = _thread_with(client, 2)
    deleted = client.beta.threads.messages.delete(ids[0], thread_id=thread.id)
    assert deleted.to_dict() == {"id": ids[0], "object": "thread.message.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError, match=f"No message found with id '{ids[0]}'."):
        client.beta.threads.messages.retrieve(ids[0], thread_id=thread.id)
    with pytest.raises(openai.NotFoundError, match="No message found"):
        client.beta.threads.messages.delete(ids[0], thread_id=thread.id)
    remaining = client.beta.threads.messages.list(thread.id)
    assert [m.id for m in remaining.data] == [ids[1]]


def test_create_on_missing_thread_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.messages.create("thread_missing", role="user", content="x")
    assert info.value.body == not_found("thread", "thread_missing")


async def test_async_client_happy_path(async_client: openai.AsyncOpenAI) -> None:
    thread = await async_client.beta.threads.create()
    messages = async_client.beta.threads.messages
    created = await messages.create(thread.id, role="user", content="hello")
    fetched = await messages.retrieve(created.id, thread_id=thread.id)
    assert fetched.to_dict() == created.to_dict()
    modified = await messages.update(created.id, thread_id=thread.id, metadata={"x": "y"})
    assert modified.metadata == {"x": "y"}
    page = await messages.list(thread.id)
    assert [m.id for m in page.data] == [created.id]
    assert (await messages.delete(created.id, thread_id=thread.id)).deleted is True
