"""The store contract for operations: runs across threads, counts by status, what
retention may purge, and readiness."""

from __future__ import annotations

import contextlib
import sqlite3

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.store import Store, open_store
from threadline.store.postgres import asyncpg_url, is_postgres_url

from .test_contract import NOW, message, thread
from .test_contract_files import file
from .test_contract_runs import new_run, run, set_status
from .test_contract_vector_stores import vector_store, vs_file

DAY = 86_400


async def test_find_run_by_id_alone(store: Store) -> None:
    created = await new_run(store)
    assert await store.find_run(created.id) == created
    assert await store.find_run("run_missing") is None
    assert await store.find_run("run_\x00") is None


async def test_recent_runs_newest_first_and_by_status(store: Store) -> None:
    first = await new_run(store)
    second = await new_run(store, "in_progress")
    third = await new_run(store, "completed")
    assert [r.id for r in await store.recent_runs(None, 10)] == [third.id, second.id, first.id]
    assert [r.id for r in await store.recent_runs(None, 2)] == [third.id, second.id]
    assert [r.id for r in await store.recent_runs("in_progress", 10)] == [second.id]
    assert await store.recent_runs("expired", 10) == []


async def test_count_active_runs_by_status(store: Store) -> None:
    assert await store.count_active_runs() == {}
    await new_run(store)
    await new_run(store)
    await new_run(store, "requires_action")
    done = await new_run(store, "in_progress")
    await set_status(store, done, "completed")
    assert await store.count_active_runs() == {"queued": 2, "requires_action": 1}


async def test_purgeable_threads_are_those_untouched_since_the_cutoff(store: Store) -> None:
    cutoff = NOW + 30 * DAY
    old = thread(created_at=NOW)
    recent = thread(created_at=cutoff)
    old_with_new_message = thread(created_at=NOW)
    old_with_new_run = thread(created_at=NOW)
    old_with_active_run = thread(created_at=NOW)
    for each in (old, recent, old_with_new_message, old_with_new_run, old_with_active_run):
        await store.insert_thread(each)
    await store.insert_message(message(old.id, created_at=NOW + DAY))
    await store.insert_message(message(old_with_new_message.id, created_at=cutoff + 1))
    finished = run(old_with_new_run.id, created_at=cutoff, status="completed")
    assert await store.insert_run(finished)
    stuck = run(old_with_active_run.id, created_at=NOW, status="in_progress")
    assert await store.insert_run(stuck)
    found = await store.purgeable(cutoff, 100)
    assert found.thread_ids == [old.id]


async def test_purgeable_files_are_old_and_in_no_vector_store(store: Store) -> None:
    cutoff = NOW + DAY
    old, held, recent = file(created_at=NOW), file(created_at=NOW), file(created_at=cutoff)
    for each in (old, held, recent):
        await store.insert_file(each)
    store_of_held = vector_store()
    await store.insert_vector_store(store_of_held, [vs_file(store_of_held.id, id=held.id)])
    found = await store.purgeable(cutoff, 100)
    assert found.file_ids == [old.id]
    assert found.thread_ids == []


async def test_purgeable_is_oldest_first_and_limited(store: Store) -> None:
    threads = [thread(created_at=NOW + i) for i in range(3)]
    for each in threads:
        await store.insert_thread(each)
    found = await store.purgeable(NOW + DAY, 2)
    assert found.thread_ids == [threads[0].id, threads[1].id]
    assert await store.delete_thread(threads[0].id)
    assert (await store.purgeable(NOW + DAY, 2)).thread_ids == [threads[1].id, threads[2].id]


async def test_deleting_a_purgeable_thread_takes_its_runs(store: Store) -> None:
    old = await new_run(store, "completed")
    other = await new_run(store, "completed", created_at=NOW + 2 * DAY)
    found = await store.purgeable(NOW + DAY, 10)
    assert found.thread_ids == [old.thread_id]
    assert await store.delete_thread(old.thread_id)
    assert await store.find_run(old.id) is None
    assert await store.find_run(other.id) is not None
    assert [r.id for r in await store.recent_runs(None, 10)] == [other.id]


async def test_a_migrated_store_is_ready(store: Store) -> None:
    assert await store.not_ready() is None


async def test_a_schema_behind_the_code_is_not_ready(fresh_sql_url: str) -> None:
    # A database of this test's own: a store opened on it later would migrate again.
    store = await open_store(fresh_sql_url)
    try:
        await _set_revision(fresh_sql_url, "0001")
        reason = await store.not_ready()
        assert reason is not None
        assert "0001" in reason
    finally:
        await store.close()


async def _set_revision(url: str, revision: str) -> None:
    statement = f"UPDATE alembic_version SET version_num = '{revision}'"
    if not is_postgres_url(url):
        with contextlib.closing(sqlite3.connect(url)) as database, database:
            database.execute(statement)
        return
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()
