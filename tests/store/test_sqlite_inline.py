"""Reads by key and writes on SQLite: done at once on the calling thread, seeing what was
committed, and on a database thread wherever they could not be done at once without waiting
(or, for a write, while the writer thread has writes to do)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from threadline.protocol.threads import Thread
from threadline.store.sql import SQLStore, _upgrade
from threadline.store.sqlite import SQLiteDatabase
from threadline.store.sqlite_threads import ClosedError

from .sqlite_work import WORK_FILE, create_table, ids, insert, write_lock

T = TypeVar("T")


async def test_a_lookup_runs_on_the_calling_thread_and_sees_each_commit(
    database: SQLiteDatabase,
) -> None:
    assert await database.lookup(lambda _: threading.current_thread()) is (
        threading.current_thread()
    )
    for name in ("a", "b"):
        await database.write(insert(name))
        assert (await database.lookup(ids))[-1] == name


async def test_a_lookup_from_another_thread_goes_to_a_reader(database: SQLiteDatabase) -> None:
    """The connection stays with the thread that opened it."""
    await database.lookup(ids)
    where = await asyncio.to_thread(
        lambda: asyncio.run(database.lookup(lambda _: threading.current_thread().name))
    )
    assert where.startswith("threadline-sqlite-reader")


async def test_a_lookup_that_would_wait_is_done_by_a_reader(database: SQLiteDatabase) -> None:
    """SQLite's busy answer (a lock it would have to wait for) sends the read to a reader
    thread, which waits for it as any read does."""
    tries: list[str] = []

    def busy_here(conn: Connection) -> str:
        tries.append(threading.current_thread().name)
        if len(tries) == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return "read"

    assert await database.lookup(busy_here) == "read"
    assert tries[0] == threading.current_thread().name
    assert tries[1].startswith("threadline-sqlite-reader")


async def test_other_errors_are_the_callers(database: SQLiteDatabase) -> None:
    def wrong(_: Connection) -> None:
        raise ValueError("not the database's")

    with pytest.raises(ValueError, match="not the database's"):
        await database.lookup(wrong)


async def test_a_write_is_done_at_once_on_the_calling_thread(database: SQLiteDatabase) -> None:
    assert await database.write(insert("a")) == threading.current_thread().name
    assert await database.lookup(ids) == ["a"]


async def test_a_write_that_would_wait_for_the_lock_waits_on_the_writer_thread(
    database: SQLiteDatabase, tmp_path: Path
) -> None:
    """Writes handed in meanwhile queue behind it, in order, on the writer thread."""
    with write_lock(tmp_path / WORK_FILE) as other:
        first = asyncio.ensure_future(database.write(insert("a")))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(database.write(insert("b")))
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not second.done()
        other.execute("COMMIT")
        where = await asyncio.gather(first, second)
    assert all(name.startswith("threadline-sqlite-writer") for name in where)
    assert await database.lookup(ids) == ["a", "b"]
    # the lock let go, writes are done at once again
    assert await database.write(insert("c")) == threading.current_thread().name
    assert await database.lookup(ids) == ["a", "b", "c"]


async def test_a_write_refused_part_way_is_rolled_back_and_done_again_by_the_thread(
    database: SQLiteDatabase,
) -> None:
    tries: list[str] = []

    def busy_here(conn: Connection) -> None:
        tries.append(insert(f"x{len(tries)}")(conn))
        if len(tries) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    await database.write(busy_here)
    assert tries[0] == threading.current_thread().name
    assert tries[1].startswith("threadline-sqlite-writer")
    assert await database.lookup(ids) == ["x1"]


async def test_a_write_that_fails_otherwise_is_rolled_back_and_raises(
    database: SQLiteDatabase,
) -> None:
    def duplicate(conn: Connection) -> None:
        insert("d")(conn)
        insert("d")(conn)

    with pytest.raises(IntegrityError):
        await database.write(duplicate)
    assert await database.lookup(ids) == []
    await database.write(insert("d"))
    assert await database.lookup(ids) == ["d"]


async def test_no_write_once_closed(tmp_path: Path) -> None:
    closed = SQLiteDatabase(tmp_path / "c.db", vectors=False)
    await closed.write(create_table)
    await closed.close()
    with pytest.raises(ClosedError):
        await closed.write(insert("late"))


async def test_a_bulk_write_is_done_by_the_writer_thread(database: SQLiteDatabase) -> None:
    """A write that may touch many rows never holds up the event loop."""
    where = await database.write(insert("many"), bulk=True)
    assert where.startswith("threadline-sqlite-writer")
    assert await database.write_one(insert("more"), bulk=True) != threading.current_thread().name


class _Recording(SQLiteDatabase):
    """A SQLite database that notes whether each write was bulk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, vectors=False)
        self.bulk: list[bool] = []

    async def write(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        self.bulk.append(bulk)
        return await super().write(work, bulk=bulk)


async def test_deletes_that_cascade_are_bulk_writes(tmp_path: Path) -> None:
    database = _Recording(tmp_path / "s.db")
    await database.run_migrations(_upgrade)
    store = SQLStore(database)
    try:
        thread = Thread(id="thread_a", created_at=1, metadata={}, tool_resources=None)
        await store.insert_thread(thread)
        assert database.bulk == [False]
        assert await store.delete_thread(thread.id)
        assert database.bulk == [False, True]
        assert await store.get_thread(thread.id) is None
    finally:
        await store.close()
