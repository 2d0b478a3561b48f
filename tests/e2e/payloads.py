"""Request payloads and expected response shapes shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

import openai
from openai.pagination import AsyncCursorPage, SyncCursorPage
from openai.types.beta import Thread

__all__ = [
    "IMAGE_FILE",
    "IMAGE_URL",
    "THREAD_TOOL_RESOURCES",
    "attachments",
    "cursors",
    "expected_message",
    "initial_messages",
    "not_found",
    "text",
]

THREAD_TOOL_RESOURCES: Any = {
    "code_interpreter": {"file_ids": ["file-abc123"]},
    "file_search": {"vector_store_ids": ["vs_abc123"]},
}
IMAGE_FILE: Any = {"type": "image_file", "image_file": {"file_id": "file-img1", "detail": "high"}}
IMAGE_URL: Any = {
    "type": "image_url",
    "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
}


def attachments(client: openai.OpenAI) -> Any:
    """Attachments of a freshly uploaded file (attached files must exist)."""
    data = client.files.create(file=("data.txt", b"Some data."), purpose="assistants")
    return [{"file_id": data.id, "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]}]


def initial_messages(attached: Any) -> Any:
    """A thread's first messages in every shape, the second one with `attached`."""
    return [
        {"role": "user", "content": "Hello there."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Look at these:"}, IMAGE_FILE, IMAGE_URL],
            "attachments": attached,
            "metadata": {"part": "2"},
        },
        {"role": "assistant", "content": "Nice pictures."},
    ]


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def expected_message(thread: Thread, message_id: str, **fields: Any) -> dict[str, Any]:
    """A message as created through the API: completed, no run, no assistant."""
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": thread.created_at,
        "thread_id": thread.id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": "user",
        "content": [],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
        **fields,
    }


def not_found(kind: str, object_id: str) -> dict[str, Any]:
    """OpenAI's 404 error for a missing object, as the SDK exposes it (`exc.body`)."""
    return {
        "message": f"No {kind} found with id '{object_id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def cursors(page: SyncCursorPage[Any] | AsyncCursorPage[Any]) -> tuple[str, str, bool]:
    """A page's `first_id`, `last_id` and `has_more` (the SDK keeps the ids as extras)."""
    fields = page.to_dict()
    first_id, last_id, has_more = fields["first_id"], fields["last_id"], fields["has_more"]
    assert isinstance(first_id, str)
    assert isinstance(last_id, str)
    assert isinstance(has_more, bool)
    return first_id, last_id, has_more
