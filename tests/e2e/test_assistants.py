"""Assistants through the official SDK: every field, every endpoint, pagination."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from openai.types.beta import Assistant

from tests.e2e.harness import SDK_DEPRECATED
from tests.e2e.payloads import cursors, not_found

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS: list[Any] = [
    {"type": "code_interpreter"},
    {
        "type": "file_search",
        "file_search": {
            "max_num_results": 5,
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.25},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": WEATHER_PARAMETERS,
            "strict": True,
        },
    },
]
TOOL_RESOURCES: Any = {
    "code_interpreter": {"file_ids": ["file-abc123", "file-def456"]},
    "file_search": {"vector_store_ids": ["vs_abc123"]},
}
JSON_SCHEMA_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "description": "One number.",
        "schema": {"type": "object", "properties": {"n": {"type": "number"}}},
        "strict": True,
    },
}
DEFAULTS: dict[str, Any] = {
    "object": "assistant",
    "name": None,
    "description": None,
    "instructions": None,
    "tools": [],
    "tool_resources": {},
    "metadata": {},
    "temperature": 1.0,
    "top_p": 1.0,
    "response_format": "auto",
}


def _expected(assistant: Assistant, **fields: Any) -> dict[str, Any]:
    return {"id": assistant.id, "created_at": assistant.created_at, **DEFAULTS, **fields}


def _create_full(client: openai.OpenAI) -> Assistant:
    return client.beta.assistants.create(
        model="gpt-4o",
        name="Weather bot",
        description="Answers questions about the weather.",
        instructions="Use the tools.",
        tools=TOOLS,
        tool_resources=TOOL_RESOURCES,
        metadata={"team": "forecast", "tier": "gold"},
        temperature=0.25,
        top_p=0.5,
        response_format=JSON_SCHEMA_FORMAT,
    )


def _create_many(client: openai.OpenAI, count: int) -> tuple[str, list[str]]:
    """A marker assistant, then `count` more: lists `after` the marker see only these."""
    marker = client.beta.assistants.create(model="gpt-4o", name="marker")
    created = [client.beta.assistants.create(model="gpt-4o", name=f"a{i}") for i in range(count)]
    return marker.id, [a.id for a in created]


def test_create_with_every_field(client: openai.OpenAI) -> None:
    before = int(time.time())
    assistant = _create_full(client)
    assert before <= assistant.created_at <= int(time.time())
    assert assistant.id.startswith("asst_")
    assert assistant.to_dict() == _expected(
        assistant,
        model="gpt-4o",
        name="Weather bot",
        description="Answers questions about the weather.",
        instructions="Use the tools.",
        tools=TOOLS,
        tool_resources=TOOL_RESOURCES,
        metadata={"team": "forecast", "tier": "gold"},
        temperature=0.25,
        top_p=0.5,
        response_format=JSON_SCHEMA_FORMAT,
    )


def test_create_with_only_a_model_fills_defaults(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="llama3.1:8b")
    assert assistant.to_dict() == _expected(assistant, model="llama3.1:8b")


@pytest.mark.parametrize(
    "response_format",
    ["auto", {"type": "text"}, {"type": "json_object"}, JSON_SCHEMA_FORMAT],
    ids=["auto", "text", "json_object", "json_schema"],
)
def test_response_format_variants_round_trip(client: openai.OpenAI, response_format: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", response_format=response_format)
    assert assistant.to_dict()["response_format"] == response_format
    fetched = client.beta.assistants.retrieve(assistant.id)
    assert fetched.to_dict()["response_format"] == response_format


def test_function_tool_without_optional_fields(client: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", "function": {"name": "ping"}}, {"type": "file_search"}]
    assistant = client.beta.assistants.create(model="gpt-4o", tools=tools)
    assert assistant.to_dict()["tools"] == tools


def test_retrieve_returns_what_create_returned(client: openai.OpenAI) -> None:
    assistant = _create_full(client)
    assert client.beta.assistants.retrieve(assistant.id).to_dict() == assistant.to_dict()


def test_modify_keeps_fields_not_given(client: openai.OpenAI) -> None:
    assistant = _create_full(client)
    modified = client.beta.assistants.update(assistant.id, name="Renamed")
    assert modified.to_dict() == {**assistant.to_dict(), "name": "Renamed"}
    assert client.beta.assistants.retrieve(assistant.id).to_dict() == modified.to_dict()


def test_modify_replaces_metadata_and_tools(client: openai.OpenAI) -> None:
    assistant = _create_full(client)
    modified = client.beta.assistants.update(
        assistant.id,
        metadata={"only": "this"},
        tools=[{"type": "code_interpreter"}],
        model="gpt-4o-mini",
        temperature=1.5,
        response_format={"type": "json_object"},
        tool_resources={"code_interpreter": {"file_ids": []}},
    )
    assert modified.to_dict() == {
        **assistant.to_dict(),
        "metadata": {"only": "this"},
        "tools": [{"type": "code_interpreter"}],
        "model": "gpt-4o-mini",
        "temperature": 1.5,
        "response_format": {"type": "json_object"},
        "tool_resources": {"code_interpreter": {"file_ids": []}},
    }


def test_modify_can_clear_nullable_fields(client: openai.OpenAI) -> None:
    assistant = _create_full(client)
    modified = client.beta.assistants.update(assistant.id, description=None, instructions=None)
    assert modified.description is None
    assert modified.instructions is None
    assert modified.name == "Weather bot"


def test_delete_then_retrieve_is_not_found(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    deleted = client.beta.assistants.delete(assistant.id)
    assert deleted.to_dict() == {"id": assistant.id, "object": "assistant.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.assistants.retrieve(assistant.id)
    assert info.value.status_code == 404
    assert info.value.body == not_found("assistant", assistant.id)


def test_delete_twice_is_not_found(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    client.beta.assistants.delete(assistant.id)
    with pytest.raises(openai.NotFoundError, match="No assistant found with id"):
        client.beta.assistants.delete(assistant.id)


def test_deleted_assistant_leaves_lists(client: openai.OpenAI) -> None:
    marker, ids = _create_many(client, 3)
    client.beta.assistants.delete(ids[1])
    page = client.beta.assistants.list(order="asc", after=marker)
    assert [a.id for a in page.data] == [ids[0], ids[2]]


def test_list_pages_forward_in_ascending_order(client: openai.OpenAI) -> None:
    marker, ids = _create_many(client, 5)
    first = client.beta.assistants.list(order="asc", after=marker, limit=2)
    assert [a.id for a in first.data] == ids[:2]
    assert cursors(first) == (ids[0], ids[1], True)
    second = client.beta.assistants.list(order="asc", after=ids[1], limit=2)
    assert [a.id for a in second.data] == ids[2:4]
    last = client.beta.assistants.list(order="asc", after=ids[3], limit=2)
    assert [a.id for a in last.data] == ids[4:]
    assert cursors(last) == (ids[4], ids[4], False)


def test_list_defaults_to_newest_first(client: openai.OpenAI) -> None:
    _, ids = _create_many(client, 3)
    page = client.beta.assistants.list(limit=3)
    assert [a.id for a in page.data] == ids[::-1]
    assert page.has_more is True  # the marker is older


def test_list_objects_are_full_assistants(client: openai.OpenAI) -> None:
    client.beta.assistants.create(model="gpt-4o")
    assistant = _create_full(client)
    page = client.beta.assistants.list(limit=1)
    assert page.to_dict() == {
        "object": "list",
        "data": [assistant.to_dict()],
        "first_id": assistant.id,
        "last_id": assistant.id,
        "has_more": True,
    }


def test_list_before_gives_the_stretch_just_ahead(client: openai.OpenAI) -> None:
    _, ids = _create_many(client, 5)
    newer = client.beta.assistants.list(order="desc", before=ids[1], limit=2)
    assert [a.id for a in newer.data] == [ids[3], ids[2]]
    assert newer.has_more is True
    newest = client.beta.assistants.list(order="desc", before=ids[3], limit=2)
    assert [a.id for a in newest.data] == [ids[4]]
    assert newest.has_more is False
    older = client.beta.assistants.list(order="asc", before=ids[3], limit=2)
    assert [a.id for a in older.data] == [ids[1], ids[2]]
    assert older.has_more is True


def test_list_after_and_before_bound_both_ends(client: openai.OpenAI) -> None:
    _, ids = _create_many(client, 5)
    page = client.beta.assistants.list(order="asc", after=ids[0], before=ids[4], limit=10)
    assert [a.id for a in page.data] == ids[1:4]
    assert page.has_more is False


def test_auto_pagination_walks_every_page_once_in_order(client: openai.OpenAI) -> None:
    marker, ids = _create_many(client, 5)
    walked = [a.id for a in client.beta.assistants.list(limit=2, order="asc", after=marker)]
    assert walked == ids


def test_auto_pagination_over_the_whole_list(client: openai.OpenAI) -> None:
    _, ids = _create_many(client, 5)
    walked = [a.id for a in client.beta.assistants.list(limit=2)]
    assert len(walked) == len(set(walked))
    assert walked[:5] == ids[::-1]
    everything = client.beta.assistants.list(limit=100)
    if not everything.has_more:
        assert walked == [a.id for a in everything.data]


def test_same_second_creations_keep_creation_order(client: openai.OpenAI) -> None:
    marker, ids = _create_many(client, 10)
    page = client.beta.assistants.list(order="asc", after=marker, limit=100)
    assert [a.id for a in page.data] == ids
    stamps = [a.created_at for a in page.data]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) < len(stamps), "no two were created in the same second"


async def test_async_client_happy_path(async_client: openai.AsyncOpenAI) -> None:
    assistant = await async_client.beta.assistants.create(model="gpt-4o", name="async")
    assert (await async_client.beta.assistants.retrieve(assistant.id)).name == "async"
    modified = await async_client.beta.assistants.update(assistant.id, metadata={"k": "v"})
    assert modified.metadata == {"k": "v"}
    page = await async_client.beta.assistants.list(limit=1)
    assert [a.id for a in page.data] == [assistant.id]
    walked = [a.id async for a in async_client.beta.assistants.list(limit=1, before=assistant.id)]
    assert walked == []
    deleted = await async_client.beta.assistants.delete(assistant.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        await async_client.beta.assistants.retrieve(assistant.id)
