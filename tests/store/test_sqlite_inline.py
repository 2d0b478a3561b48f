"""Reads by key on SQLite: done at once on the calling thread, seeing what was committed,
and on a reader thread wherever they could not be done at once without waiting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from threadline.store.sqlite import SQLiteDatabase


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SQLiteDatabase]:
    opened = SQLiteDatabase(tmp_path / "t.db", vectors=False)
    await opened.write(lambda conn: conn.execute(text("CREATE TABLE t (id TEXT PRIMARY KEY)")))
    yield opened
    await opened.close()


def _ids(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT id FROM t ORDER BY id")).scalars())


async def test_a_lookup_runs_on_the_calling_thread_and_sees_each_commit(
    database: SQLiteDatabase,
) -> None:
    assert await database.lookup(lambda _: threading.current_thread()) is (
        threading.current_thread()
    )
    for name in ("a", "b"):

        def insert(conn: Connection, name: str = name) -> None:
            conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": name})

        await database.write(insert)
        assert (await database.lookup(_ids))[-1] == name


async def test_a_lookup_from_another_thread_goes_to_a_reader(database: SQLiteDatabase) -> None:
    """The connection stays with the thread that opened it."""
    await database.lookup(_ids)
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
