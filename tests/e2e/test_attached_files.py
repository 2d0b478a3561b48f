"""Files reaching vector stores through the official SDK: message attachments for
`file_search` and the `tool_resources.file_search.vector_stores` helper."""

from __future__ import annotations

import time

import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

CATS = b"Cats purr when they are content and knead soft blankets."
DOGS = b"Dogs bark loudly at the mail carrier every single morning."


def _completed(client: openai.OpenAI, vector_store_id: str) -> None:
    deadline = time.monotonic() + 60
    while client.vector_stores.retrieve(vector_store_id).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_thread_attachments_fill_a_vector_store(client: openai.OpenAI) -> None:
    cats = client.files.create(file=("cats.txt", CATS), purpose="assistants")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "What do cats do?",
                "attachments": [{"file_id": cats.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    assert thread.tool_resources is not None
    assert thread.tool_resources.file_search is not None
    [vs_id] = thread.tool_resources.file_search.vector_store_ids or []
    _completed(client, vs_id)
    [file] = client.vector_stores.files.list(vs_id).data
    assert (file.id, file.status) == (cats.id, "completed")
    [message] = client.beta.threads.messages.list(thread.id).data
    assert message.attachments is not None
    assert message.attachments[0].file_id == cats.id

    dogs = client.files.create(file=("dogs.txt", DOGS), purpose="assistants")
    client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="And dogs?",
        attachments=[{"file_id": dogs.id, "tools": [{"type": "file_search"}]}],
    )
    again = client.beta.threads.retrieve(thread.id)
    assert again.tool_resources is not None
    assert again.tool_resources.file_search is not None
    assert again.tool_resources.file_search.vector_store_ids == [vs_id]
    listed = {f.id for f in client.vector_stores.files.list(vs_id).data}
    assert listed == {cats.id, dogs.id}


def test_unknown_attachment_is_not_found(client: openai.OpenAI) -> None:
    attachments: list[dict[str, object]] = [
        {"file_id": "file-nope", "tools": [{"type": "file_search"}]}
    ]
    with pytest.raises(openai.NotFoundError, match="No file found with id 'file-nope'"):
        client.beta.threads.create(
            messages=[{"role": "user", "content": "hi", "attachments": attachments}]  # type: ignore[typeddict-item]
        )


def test_assistant_vector_stores_helper(client: openai.OpenAI) -> None:
    cats = client.files.create(file=("cats.txt", CATS), purpose="assistants")
    dogs = client.files.create(file=("dogs.txt", DOGS), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="fake-model",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [cats.id, dogs.id]}]}},
    )
    assert assistant.tool_resources is not None
    assert assistant.tool_resources.file_search is not None
    [vs_id] = assistant.tool_resources.file_search.vector_store_ids or []
    _completed(client, vs_id)
    listed = {f.id for f in client.vector_stores.files.list(vs_id).data}
    assert listed == {cats.id, dogs.id}
    assert client.vector_stores.retrieve(vs_id).file_counts.completed == 2
