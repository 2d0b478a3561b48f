"""Group commit on SQLite: the writes of one turn of the event loop after its first are
done together, in one transaction, each undone alone when it fails, and on the writer
thread, in order, when SQLite would make them wait."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from threadline.store.sqlite import SQLiteDatabase
from threadline.store.sqlite_threads import ClosedError

from .sqlite_work import WORK_FILE, create_table, ids, insert, write_lock


@contextlib.contextmanager
def _statements(database: SQLiteDatabase) -> Iterator[list[str]]:
    """The statements the event loop's writing connection runs meanwhile."""
    seen: list[str] = []
    conn = database._inline_writes._connection()
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        driver.set_trace_callback(None)


async def test_writes_of_one_turn_after_the_first_share_one_transaction(
    database: SQLiteDatabase,
) -> None:
    await asyncio.sleep(0)  # a turn of the loop with no write yet
    with _statements(database) as seen:
        where = await asyncio.gather(*(database.write(insert(f"r{i}")) for i in range(6)))
    assert where == [threading.current_thread().name] * 6  # all on the event loop
    assert await database.lookup(ids) == [f"r{i}" for i in range(6)]
    assert sum(s.startswith("BEGIN") for s in seen) == 2  # the first, then the other five
    assert sum(s == "COMMIT" for s in seen) == 2


async def test_a_lone_write_is_done_at_once(database: SQLiteDatabase) -> None:
    """Nothing to wait for: it is done before the caller's next turn of the loop."""
    await asyncio.sleep(0)
    write = asyncio.ensure_future(database.write(insert("alone")))
    await asyncio.sleep(0)  # the write's task runs in this turn
    assert write.done()
    assert await database.lookup(ids) == ["alone"]


async def test_a_write_that_fails_in_a_group_is_undone_alone(database: SQLiteDatabase) -> None:
    """Its own rows are undone and its error is its caller's; the others commit."""
    await database.write(insert("taken"))
    await asyncio.sleep(0)
    outcomes = await asyncio.gather(
        database.write(insert("a")),
        database.write(insert("b", "taken")),  # b is written, then the duplicate fails
        database.write(insert("c")),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], IntegrityError)
    assert not isinstance(outcomes[0], BaseException)
    assert not isinstance(outcomes[2], BaseException)
    assert await database.lookup(ids) == ["taken", "a", "c"]


async def test_a_group_sqlite_would_make_wait_is_done_in_order_by_the_writer_thread(
    database: SQLiteDatabase, tmp_path: Path
) -> None:
    await asyncio.sleep(0)
    with write_lock(tmp_path / WORK_FILE) as other:
        writes = [asyncio.ensure_future(database.write(insert(f"w{i}"))) for i in range(4)]
        await asyncio.sleep(0.05)
        assert not any(write.done() for write in writes)
        other.execute("COMMIT")
        where = await asyncio.gather(*writes)
    assert all(name.startswith("threadline-sqlite-writer") for name in where)
    assert await database.lookup(ids) == ["w0", "w1", "w2", "w3"]


async def test_a_group_refused_part_way_is_rolled_back_and_done_again_by_the_thread(
    database: SQLiteDatabase,
) -> None:
    """Every write of it, those done before the refusal included, is done once in the end."""
    tries: list[str] = []

    def busy_once(conn: Connection) -> str:
        tries.append(threading.current_thread().name)
        insert("late")(conn)
        if len(tries) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return "done"

    await asyncio.sleep(0)
    outcomes = await asyncio.gather(
        database.write(insert("first")),  # the turn's first: done at once
        database.write(insert("second")),
        database.write(busy_once),
        database.write(insert("third")),
    )
    assert outcomes[2] == "done"
    assert tries[0] == threading.current_thread().name
    assert tries[1].startswith("threadline-sqlite-writer")
    assert await database.lookup(ids) == ["first", "second", "late", "third"]


async def test_a_write_given_up_before_its_turn_ends_is_not_done(
    database: SQLiteDatabase,
) -> None:
    await asyncio.sleep(0)
    first = asyncio.ensure_future(database.write(insert("kept")))
    dropped = asyncio.ensure_future(database.write(insert("dropped")))
    await asyncio.sleep(0)  # both tasks ran: the first was done, the second waits
    assert first.done()
    dropped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dropped
    await asyncio.sleep(0)
    assert await database.lookup(ids) == ["kept"]


def test_a_turn_left_open_by_a_loop_that_stopped_is_over(tmp_path: Path) -> None:
    """A database outlives the event loop it last wrote on: the next loop's writes are
    done, not left waiting for a turn that never ends."""
    database = SQLiteDatabase(tmp_path / "l.db", vectors=False)

    async def first() -> None:
        await database.write(create_table)
        await asyncio.sleep(0)
        await database.write(insert("a"))  # done at once, the first of its turn
        asyncio.get_running_loop().stop()  # at the end of this turn: the next never runs
        await asyncio.Event().wait()

    loop = asyncio.new_event_loop()
    with pytest.raises(RuntimeError, match="stopped before"):
        loop.run_until_complete(first())
    loop.close()

    async def second() -> list[str]:
        try:
            await asyncio.wait_for(database.write(insert("b")), 5)
            return await database.lookup(ids)
        finally:
            await database.close()

    assert asyncio.run(second()) == ["a", "b"]


async def test_a_write_still_waiting_for_its_group_when_the_database_closes_is_refused(
    tmp_path: Path,
) -> None:
    database = SQLiteDatabase(tmp_path / "c.db", vectors=False)
    await database.write(create_table)
    await asyncio.sleep(0)
    first = asyncio.ensure_future(database.write(insert("a")))
    waiting = asyncio.ensure_future(database.write(insert("b")))
    await asyncio.sleep(0)  # the first was done at once; the second waits for its group
    assert first.done()
    assert not waiting.done()
    await database.close()
    with pytest.raises(ClosedError):
        await waiting
