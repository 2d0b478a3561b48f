"""The store contract for files' metadata: round trips, the purpose filter, expiry in
lists, pagination and deletion."""

from __future__ import annotations

from typing import Any

import pytest

from threadline.errors import InvalidRequestError
from threadline.ids import new_id
from threadline.protocol.common import ListQuery
from threadline.protocol.files import FileObject
from threadline.store import Store, open_store

from .test_contract import NOW, assistant


def file(**changes: Any) -> FileObject:
    fields: dict[str, Any] = {
        "id": new_id("file", "-"),
        "bytes": 12,
        "created_at": NOW,
        "filename": "notes.md",
        "purpose": "assistants",
    }
    return FileObject(**(fields | changes))


async def files_in(store: Store, *purposes: str, **changes: Any) -> list[str]:
    ids = []
    for purpose in purposes:
        created = file(purpose=purpose, **changes)
        await store.insert_file(created)
        ids.append(created.id)
    return ids


def ids_of(files: list[FileObject]) -> list[str]:
    return [f.id for f in files]


async def test_file_round_trips_exactly(store: Store) -> None:
    plain = file(filename='résumé "final".pdf', bytes=0)
    expiring = file(expires_at=NOW + 3600, purpose="assistants_output")
    for created in (plain, expiring):
        await store.insert_file(created)
        assert await store.get_file(created.id) == created
    found = await store.get_file(plain.id)
    assert found is not None
    assert found.model_dump(exclude_none=True) == {
        "id": plain.id,
        "object": "file",
        "bytes": 0,
        "created_at": NOW,
        "filename": 'résumé "final".pdf',
        "purpose": "assistants",
        "status": "processed",
    }


async def test_missing_file_is_none(store: Store) -> None:
    assert await store.get_file("file-missing") is None
    assert await store.get_file("file-\x00") is None
    assert not await store.delete_file("file-missing")


async def test_files_list_newest_first_and_filter_by_purpose(store: Store) -> None:
    ids = await files_in(store, "assistants", "vision", "assistants", "batch")
    everything = await store.list_files(None, ListQuery())
    assert ids_of(everything.data) == ids[::-1]
    assert not everything.has_more
    assistants = await store.list_files("assistants", ListQuery(order="asc"))
    assert ids_of(assistants.data) == [ids[0], ids[2]]
    assert ids_of((await store.list_files("fine-tune", ListQuery())).data) == []
    assert ids_of((await store.list_files("\x00", ListQuery())).data) == []


async def test_file_pages_follow_cursors(store: Store) -> None:
    ids = await files_in(store, *["user_data"] * 5)
    first = await store.list_files(None, ListQuery(limit=2, order="asc"))
    assert (ids_of(first.data), first.has_more) == (ids[:2], True)
    second = await store.list_files(None, ListQuery(limit=2, order="asc", after=ids[1]))
    assert (ids_of(second.data), second.has_more) == (ids[2:4], True)
    last = await store.list_files(None, ListQuery(limit=2, order="asc", after=ids[3]))
    assert (ids_of(last.data), last.has_more) == (ids[4:], False)
    backwards = await store.list_files(None, ListQuery(limit=2, after=ids[2]))
    assert ids_of(backwards.data) == [ids[1], ids[0]]


async def test_a_file_cursor_may_name_a_file_of_another_purpose(store: Store) -> None:
    first, other, last = await files_in(store, "assistants", "vision", "assistants")
    page = await store.list_files("assistants", ListQuery(order="asc", after=other))
    assert ids_of(page.data) == [last]
    assert first not in ids_of(page.data)


async def test_unknown_file_cursor_is_refused(store: Store) -> None:
    await files_in(store, "assistants")
    with pytest.raises(InvalidRequestError) as info:
        await store.list_files(None, ListQuery(after="file-nope"))
    assert info.value.param == "after"
    with pytest.raises(InvalidRequestError):
        await store.list_files(None, ListQuery(after=new_id("asst")))


async def test_lists_leave_out_files_expired_by_now(store: Store) -> None:
    kept = await files_in(store, "assistants")
    lasting = await files_in(store, "assistants", expires_at=NOW + 100)
    await files_in(store, "assistants", expires_at=NOW)
    page = await store.list_files("assistants", ListQuery(order="asc"), now=NOW)
    assert ids_of(page.data) == kept + lasting
    later = await store.list_files(None, ListQuery(order="asc"), now=NOW + 100)
    assert ids_of(later.data) == kept
    assert len((await store.list_files(None, ListQuery())).data) == 3


async def test_deleted_file_is_gone(store: Store) -> None:
    kept, gone = await files_in(store, "assistants", "assistants")
    assert await store.delete_file(gone)
    assert await store.get_file(gone) is None
    assert not await store.delete_file(gone)
    assert ids_of((await store.list_files(None, ListQuery())).data) == [kept]


async def test_files_and_other_objects_share_the_creation_order(store: Store) -> None:
    await store.insert_assistant(assistant())
    ids = await files_in(store, "assistants", "assistants")
    await store.insert_assistant(assistant())
    page = await store.list_files(None, ListQuery(order="asc", limit=1, after=ids[0]))
    assert ids_of(page.data) == ids[1:]


async def test_files_persist_across_reopening(sql_url: str) -> None:
    store = await open_store(sql_url)
    try:
        ids = await files_in(store, "assistants", "vision", expires_at=NOW + 60)
    finally:
        await store.close()
    reopened = await open_store(sql_url)
    try:
        page = await reopened.list_files(None, ListQuery(order="asc"), now=NOW)
        assert ids_of(page.data) == ids
    finally:
        await reopened.close()
