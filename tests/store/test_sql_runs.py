"""Runs on the SQL backends: what only a database shared by several processes can show."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from threadline.ids import new_id
from threadline.protocol.messages import Message
from threadline.store import Store, open_store
from threadline.store.base import Claim, ThreadBusyError
from threadline.store.postgres import asyncpg_url
from threadline.store.sql import SQLStore

from .test_contract import NOW, message, thread
from .test_contract_runs import LEASE, new_run, run
from .test_contract_steps import step


async def _claim_all(store: Store, owner: str) -> list[Claim]:
    claims = []
    while (claim := await store.claim_next_run(owner, NOW, LEASE)) is not None:
        claims.append(claim)
    return claims


async def test_two_stores_claim_every_run_once(sql_url: str) -> None:
    """Workers in two processes (two stores, two pools) drain one queue together."""
    first, second = await open_store(sql_url), await open_store(sql_url)
    try:
        queued = {(await new_run(first)).id for _ in range(50)}
        batches = await asyncio.gather(
            *(
                _claim_all(store, f"{name}-{i}")
                for name, store in [("a", first), ("b", second)]
                for i in range(5)
            )
        )
        claimed = [c.run.id for batch in batches for c in batch]
        assert sorted(claimed) == sorted(queued)
    finally:
        await first.close()
        await second.close()


async def _seq(conn: AsyncConnection, table: str, object_id: str) -> int:
    query = text(f"SELECT seq FROM {table} WHERE id = :id")
    return int((await conn.execute(query, {"id": object_id})).scalar_one())


async def test_postgres_messages_never_slip_behind_a_new_run(postgres_url: str) -> None:
    """A message from outside a run, written while a run is being created: it fails, or it
    was written before the run; never written after it."""
    store = await open_store(postgres_url)
    pairs = []
    try:
        for _ in range(30):
            t = thread()
            await store.insert_thread(t)
            pairs.append((run(t.id), message(t.id)))
        runs_ok, messages_ok = await asyncio.gather(
            asyncio.gather(*(store.insert_run(r) for r, _ in pairs)),
            asyncio.gather(*(store.insert_message(m) for _, m in pairs), return_exceptions=True),
        )
    finally:
        await store.close()
    assert all(runs_ok)
    engine = create_async_engine(asyncpg_url(postgres_url))
    try:
        async with engine.connect() as conn:
            for (r, m), outcome in zip(pairs, messages_ok, strict=True):
                if outcome is True:
                    assert await _seq(conn, "messages", m.id) < await _seq(conn, "runs", r.id)
                else:
                    assert isinstance(outcome, ThreadBusyError)
    finally:
        await engine.dispose()


async def test_the_index_holds_the_lock_on_its_own(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the check before the insert ever wrong, the unique index still refuses."""
    store = await open_store(sql_url)
    assert isinstance(store, SQLStore)

    def overlook(conn: Connection, thread_id: str) -> bool:
        return True

    try:
        active = await new_run(store)
        monkeypatch.setattr(store, "_lock_idle_thread", overlook)
        with pytest.raises(ThreadBusyError) as caught:
            await store.insert_run(run(active.thread_id))
        assert caught.value.run_id == active.id
        idle = await new_run(store, "completed")
        with pytest.raises(IntegrityError):  # not the lock: the thread exists already
            await store.insert_run(run(idle.thread_id), thread=thread(id=idle.thread_id))
    finally:
        await store.close()


async def test_ids_a_database_cannot_hold(sql_url: str) -> None:
    store = await open_store(sql_url)
    try:
        assert await store.insert_run(run("thread_\x00")) is False
        assert await store.insert_message(message("thread_\x00")) is False
        assert await store.run_steps("run_\x00") == []
        assert await store.thread_history("thread_\x00") == []
        assert await store.get_run(new_id("thread"), "run_\x00") is None
    finally:
        await store.close()


async def test_history_items_are_parsed_again_once_changed(tmp_path: Path) -> None:
    """The parsed history is reused only for the very JSON it was parsed from."""
    store = await open_store(str(tmp_path / "history.db"))
    try:
        owner = thread()
        first = message(owner.id)
        await store.insert_thread(owner, [first])
        [before] = await store.thread_history(owner.id)
        [again] = await store.thread_history(owner.id)
        assert again == before == first
        edited = first.model_copy(update={"metadata": {"k": "v"}})
        assert await store.replace_message(edited)
        [after] = await store.thread_history(owner.id)
        assert after == edited
    finally:
        await store.close()


async def test_history_items_written_here_are_not_read_back(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What this store inserted (a thread's messages, a message, a run's additional
    messages, the step and message a run ends with) its next history read finds parsed,
    reading no row; another store (another process) reads the same items from the rows."""
    writer, other = await open_store(sql_url), await open_store(sql_url)
    assert isinstance(writer, SQLStore)
    try:
        owner = thread()
        await writer.insert_thread(owner, [message(owner.id, "first")])
        assert await writer.insert_message(message(owner.id, "second"))
        extra = message(owner.id, "third")
        active = run(owner.id, "in_progress")
        assert await writer.insert_run(active, [extra])
        reply = message(owner.id, "reply", run_id=active.id, status="in_progress", role="assistant")
        ending = await writer.end_run(
            active.id,
            lambda r: r.model_copy(update={"status": "completed"}),
            lambda s: s.model_copy(update={"status": "completed"}),
            lambda m: m.model_copy(update={"status": "completed"}),
            (step(active, "message_creation"), reply),
        )
        assert ending is not None

        async def no_rows(keys: object) -> object:
            raise AssertionError(f"read back: {keys}")

        expected = await other.thread_history(owner.id)
        roles = [item.role if isinstance(item, Message) else "step" for item in expected]
        assert roles == ["user", "user", "user", "assistant"]  # no tool calls: no steps
        monkeypatch.setattr(writer, "_history_fetched", no_rows)
        assert await writer.thread_history(owner.id) == expected
    finally:
        await writer.close()
        await other.close()
