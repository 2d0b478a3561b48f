"""The store contract: every backend (memory, SQLite, PostgreSQL) behaves the same."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from threadline.errors import InvalidRequestError
from threadline.ids import new_id
from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import (
    FileCitation,
    FileCitationAnnotation,
    Message,
    Text,
    TextContent,
)
from threadline.protocol.threads import Thread
from threadline.protocol.tools import (
    CodeInterpreterResources,
    FunctionDefinition,
    FunctionTool,
    JsonSchemaFormat,
    JsonSchemaSpec,
    ToolResources,
)
from threadline.store import Store, open_store

NOW = 1_700_000_000


def assistant(**changes: Any) -> Assistant:
    fields: dict[str, Any] = {
        "id": new_id("asst"),
        "created_at": NOW,
        "name": "Helper",
        "description": None,
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "tools": [],
        "tool_resources": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
    }
    return Assistant(**(fields | changes))


def thread(**changes: Any) -> Thread:
    fields: dict[str, Any] = {
        "id": new_id("thread"),
        "created_at": NOW,
        "tool_resources": None,
        "metadata": {},
    }
    return Thread(**(fields | changes))


def message(thread_id: str, text: str = "hello", **changes: Any) -> Message:
    fields: dict[str, Any] = {
        "id": new_id("msg"),
        "created_at": NOW,
        "thread_id": thread_id,
        "status": "completed",
        "role": "user",
        "content": [TextContent(text=Text(value=text))],
        "metadata": {},
    }
    return Message(**(fields | changes))


async def assistants_in(store: Store, count: int) -> list[str]:
    ids = [new_id("asst") for _ in range(count)]
    for object_id in ids:
        await store.insert_assistant(assistant(id=object_id))
    return ids


async def page_ids(store: Store, **query: Any) -> tuple[list[str], bool]:
    page = await store.list_assistants(ListQuery(**query))
    return [a.id for a in page.data], page.has_more


# Assistants


async def test_assistant_round_trips_exactly(store: Store) -> None:
    rich = assistant(
        name='Ünïcode ✓ "quoted" \n line',
        metadata={"k": "v", "empty": ""},
        tools=[
            FunctionTool(
                type="function",
                function=FunctionDefinition(
                    name="get_weather", parameters={"type": "object", "properties": {}}
                ),
            )
        ],
        tool_resources=ToolResources(code_interpreter=CodeInterpreterResources(file_ids=["f"])),
        response_format=JsonSchemaFormat(
            type="json_schema",
            json_schema=JsonSchemaSpec(name="answer", schema={"type": "object"}, strict=True),
        ),
        temperature=0.25,
    )
    await store.insert_assistant(rich)
    assert await store.get_assistant(rich.id) == rich


async def test_assistant_replace_and_delete(store: Store) -> None:
    original = assistant()
    await store.insert_assistant(original)
    changed = original.model_copy(update={"name": "Renamed", "metadata": {"a": "b"}})
    assert await store.replace_assistant(changed) is True
    assert await store.get_assistant(original.id) == changed
    assert await store.delete_assistant(original.id) is True
    assert await store.get_assistant(original.id) is None
    assert await store.delete_assistant(original.id) is False


async def test_missing_assistant(store: Store) -> None:
    assert await store.get_assistant("asst_missing") is None
    assert await store.replace_assistant(assistant(id="asst_missing")) is False
    assert await store.delete_assistant("asst_missing") is False


async def test_replace_keeps_list_position(store: Store) -> None:
    ids = await assistants_in(store, 3)
    first = await store.get_assistant(ids[0])
    assert first is not None
    await store.replace_assistant(first.model_copy(update={"name": "x"}))
    assert (await page_ids(store, order="asc"))[0] == ids


# Ordering and pagination


async def test_order_is_insertion_order_within_one_second(store: Store) -> None:
    ids = await assistants_in(store, 30)
    assert await page_ids(store, order="asc", limit=100) == (ids, False)
    assert await page_ids(store, order="desc", limit=100) == (ids[::-1], False)
    assert await page_ids(store, limit=100) == (ids[::-1], False)  # desc is the default


async def test_empty_list(store: Store) -> None:
    assert await page_ids(store) == ([], False)


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_limit_and_has_more(store: Store, order: str) -> None:
    ids = await assistants_in(store, 5)
    ordered = ids if order == "asc" else ids[::-1]
    assert await page_ids(store, order=order, limit=2) == (ordered[:2], True)
    assert await page_ids(store, order=order, limit=5) == (ordered, False)
    assert await page_ids(store, order=order, limit=6) == (ordered, False)


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_after_and_before(store: Store, order: str) -> None:
    ids = await assistants_in(store, 7)
    o = ids if order == "asc" else ids[::-1]
    assert await page_ids(store, order=order, after=o[1], limit=3) == (o[2:5], True)
    assert await page_ids(store, order=order, after=o[3], limit=3) == (o[4:7], False)
    assert await page_ids(store, order=order, after=o[6]) == ([], False)
    # A `before` page is the stretch just ahead of the cursor, in the order asked for.
    assert await page_ids(store, order=order, before=o[5], limit=3) == (o[2:5], True)
    assert await page_ids(store, order=order, before=o[3], limit=3) == (o[0:3], False)
    assert await page_ids(store, order=order, before=o[0]) == ([], False)
    assert await page_ids(store, order=order, after=o[0], before=o[6], limit=3) == (o[1:4], True)
    assert await page_ids(store, order=order, after=o[0], before=o[4], limit=3) == (o[1:4], False)
    assert await page_ids(store, order=order, after=o[4], before=o[2]) == ([], False)


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_walk_all_pages_forward_and_backward(store: Store, order: str) -> None:
    ids = await assistants_in(store, 11)
    expected = ids if order == "asc" else ids[::-1]
    seen, has_more, cursor = [], True, None
    while has_more:
        page, has_more = await page_ids(store, order=order, limit=3, after=cursor)
        seen += page
        cursor = page[-1]
    assert seen == expected
    seen, has_more, cursor = [], True, expected[-1]
    while has_more:
        page, has_more = await page_ids(store, order=order, limit=3, before=cursor)
        seen = page + seen
        cursor = page[0]
    assert seen == expected[:-1]


@pytest.mark.parametrize("param", ["after", "before"])
async def test_unknown_cursor(store: Store, param: str) -> None:
    await assistants_in(store, 2)
    with pytest.raises(InvalidRequestError) as caught:
        await store.list_assistants(ListQuery(**{param: "asst_unknown"}))
    assert caught.value.param == param


async def test_unknown_after_is_reported_before_unknown_before(store: Store) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await store.list_assistants(ListQuery(after="asst_x", before="asst_y"))
    assert caught.value.param == "after"


async def test_deleted_cursor_is_unknown(store: Store) -> None:
    ids = await assistants_in(store, 3)
    await store.delete_assistant(ids[1])
    with pytest.raises(InvalidRequestError):
        await store.list_assistants(ListQuery(after=ids[1]))


async def test_ids_with_nul_find_nothing(store: Store) -> None:
    assert await store.get_assistant("asst_\x00") is None
    assert await store.delete_thread("thread_\x00") is False
    assert await store.get_message("thread_\x00", "msg_\x00") is None
    with pytest.raises(InvalidRequestError):
        await store.list_assistants(ListQuery(after="asst_\x00"))
    page = await store.list_messages("thread_\x00", ListQuery(), run_id="run_\x00")
    assert page.data == []


# Threads and messages


async def test_thread_with_messages(store: Store) -> None:
    t = thread(metadata={"topic": "x"})
    first, second = message(t.id, "one"), message(t.id, "two", role="assistant")
    await store.insert_thread(t, [first, second])
    assert await store.get_thread(t.id) == t
    assert await store.get_message(t.id, first.id) == first
    page = await store.list_messages(t.id, ListQuery(order="asc"))
    assert page.data == [first, second]
    assert page.has_more is False


async def test_thread_replace_and_missing(store: Store) -> None:
    t = thread()
    await store.insert_thread(t)
    changed = t.model_copy(update={"metadata": {"a": "1"}})
    assert await store.replace_thread(changed) is True
    assert await store.get_thread(t.id) == changed
    assert await store.get_thread("thread_missing") is None
    assert await store.replace_thread(thread(id="thread_missing")) is False
    assert await store.delete_thread("thread_missing") is False


async def test_delete_thread_removes_its_messages(store: Store) -> None:
    kept, gone = thread(), thread()
    await store.insert_thread(kept, [message(kept.id)])
    doomed = message(gone.id)
    await store.insert_thread(gone, [doomed])
    assert await store.delete_thread(gone.id) is True
    assert await store.get_thread(gone.id) is None
    assert await store.get_message(gone.id, doomed.id) is None
    assert (await store.list_messages(gone.id, ListQuery())).data == []
    assert len((await store.list_messages(kept.id, ListQuery())).data) == 1


async def test_insert_message_into_missing_thread(store: Store) -> None:
    orphan = message("thread_missing")
    assert await store.insert_message(orphan) is False
    assert await store.get_message("thread_missing", orphan.id) is None


async def test_message_crud(store: Store) -> None:
    t = thread()
    await store.insert_thread(t)
    m = message(t.id)
    assert await store.insert_message(m) is True
    assert await store.get_message(t.id, m.id) == m
    assert await store.get_message("thread_other", m.id) is None
    annotated = TextContent(
        text=Text(
            value="see [1]",
            annotations=[
                FileCitationAnnotation(
                    text="[1]",
                    file_citation=FileCitation(file_id="file_1"),
                    start_index=4,
                    end_index=7,
                )
            ],
        )
    )
    changed = m.model_copy(update={"content": [annotated], "metadata": {"k": "v"}})
    assert await store.replace_message(changed) is True
    assert await store.get_message(t.id, m.id) == changed
    assert await store.replace_message(changed.model_copy(update={"thread_id": "x"})) is False
    assert await store.delete_message("thread_other", m.id) is False
    assert await store.delete_message(t.id, m.id) is True
    assert await store.delete_message(t.id, m.id) is False
    assert await store.replace_message(changed) is False


async def test_message_order_and_pagination(store: Store) -> None:
    t = thread()
    initial = [message(t.id, str(i)) for i in range(3)]
    await store.insert_thread(t, initial)
    later = [message(t.id, str(i)) for i in range(3, 8)]
    for m in later:
        await store.insert_message(m)
    ids = [m.id for m in initial + later]
    page = await store.list_messages(t.id, ListQuery(limit=100))
    assert [m.id for m in page.data] == ids[::-1]
    page = await store.list_messages(t.id, ListQuery(order="asc", after=ids[2], limit=2))
    assert ([m.id for m in page.data], page.has_more) == (ids[3:5], True)
    page = await store.list_messages(t.id, ListQuery(order="desc", before=ids[2], limit=2))
    assert ([m.id for m in page.data], page.has_more) == (ids[4:2:-1], True)


async def test_message_cursor_must_be_in_the_thread(store: Store) -> None:
    mine, other = thread(), thread()
    foreign = message(other.id)
    await store.insert_thread(mine, [message(mine.id)])
    await store.insert_thread(other, [foreign])
    with pytest.raises(InvalidRequestError) as caught:
        await store.list_messages(mine.id, ListQuery(before=foreign.id))
    assert caught.value.param == "before"


async def test_messages_filtered_by_run(store: Store) -> None:
    t = thread()
    plain = message(t.id)
    run_a = [message(t.id, "a1", run_id="run_a"), message(t.id, "a2", run_id="run_a")]
    run_b = message(t.id, "b", run_id="run_b")
    await store.insert_thread(t, [plain, run_a[0], run_b, run_a[1]])
    page = await store.list_messages(t.id, ListQuery(order="asc"), run_id="run_a")
    assert page.data == run_a
    page = await store.list_messages(t.id, ListQuery(after=run_a[1].id), run_id="run_a")
    assert page.data == [run_a[0]]
    # The cursor may be any message of the thread, even one outside the run.
    page = await store.list_messages(t.id, ListQuery(order="asc", after=plain.id), run_id="run_b")
    assert page.data == [run_b]
    assert (await store.list_messages(t.id, ListQuery(), run_id="run_c")).data == []


async def test_replace_message_can_move_it_into_a_run(store: Store) -> None:
    t = thread()
    m = message(t.id)
    await store.insert_thread(t, [m])
    await store.replace_message(m.model_copy(update={"run_id": "run_1"}))
    page = await store.list_messages(t.id, ListQuery(), run_id="run_1")
    assert [x.id for x in page.data] == [m.id]


# Persistence (SQL backends only)


async def test_data_survives_reopening(sql_url: str) -> None:
    t = thread()
    a, m = assistant(), message(t.id)
    first = await open_store(sql_url)
    try:
        await first.insert_assistant(a)
        await first.insert_thread(t, [m])
    finally:
        await first.close()
    second = await open_store(sql_url)
    try:
        assert await second.get_assistant(a.id) == a
        assert await second.get_thread(t.id) == t
        assert (await second.list_messages(t.id, ListQuery())).data == [m]
        later = assistant()
        await second.insert_assistant(later)  # sequence numbers carry on
        assert (await second.list_assistants(ListQuery())).data == [later, a]
    finally:
        await second.close()


async def test_concurrent_writes_keep_every_message(store: Store) -> None:
    t = thread()
    await store.insert_thread(t)
    batch = [message(t.id, str(i)) for i in range(40)]
    assert all(await asyncio.gather(*(store.insert_message(m) for m in batch)))
    page = await store.list_messages(t.id, ListQuery(order="asc", limit=100))
    assert sorted(m.id for m in page.data) == sorted(m.id for m in batch)


async def test_two_stores_on_one_database(sql_url: str) -> None:
    """Two processes on one database (here: two stores) write together without loss."""
    first, second = await open_store(sql_url), await open_store(sql_url)
    try:
        batches = [[assistant() for _ in range(25)] for _ in range(2)]
        await asyncio.gather(
            *(first.insert_assistant(a) for a in batches[0]),
            *(second.insert_assistant(a) for a in batches[1]),
        )
        page = await first.list_assistants(ListQuery(limit=100))
        assert sorted(a.id for a in page.data) == sorted(a.id for b in batches for a in b)
    finally:
        await first.close()
        await second.close()
