"""The database threads behind SQLite: what a store call hands them comes back whole, and
closing lets them finish first."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from threadline.store.sqlite_threads import ClosedError, Threads


@pytest.fixture
async def threads(tmp_path: Path) -> AsyncIterator[Threads]:
    url = URL.create("sqlite+pysqlite", database=str(tmp_path / "t.db"))
    opened = Threads(create_engine(url, poolclass=NullPool), 2, "test-db")
    yield opened
    await opened.close()


def _select_one(conn: Connection) -> int:
    return int(conn.execute(text("SELECT 1")).scalar_one())


def _returning(value: int) -> Callable[[Connection], int]:
    return lambda _: value


async def test_results_and_errors_come_back_unchanged(threads: Threads) -> None:
    assert await threads.run(_select_one) == 1
    error = ValueError("from the callback")

    def fail(_: Connection) -> None:
        raise error

    with pytest.raises(ValueError, match="from the callback") as caught:
        await threads.run(fail)
    assert caught.value is error


async def test_work_runs_off_the_loop_thread(threads: Threads) -> None:
    ran_on = await threads.run(lambda _: threading.current_thread())
    assert ran_on is not threading.current_thread()
    assert ran_on.name.startswith("test-db-")


async def test_many_calls_at_once(threads: Threads) -> None:
    results = await asyncio.gather(*(threads.run(_returning(i)) for i in range(200)))
    assert results == list(range(200))


async def test_close_finishes_what_was_handed_in(tmp_path: Path) -> None:
    url = URL.create("sqlite+pysqlite", database=str(tmp_path / "t.db"))
    threads = Threads(create_engine(url, poolclass=NullPool), 1, "test-db")
    pending = [asyncio.ensure_future(threads.run(_select_one)) for _ in range(20)]
    await asyncio.sleep(0)  # the calls are queued
    await threads.close()
    assert [p.result() for p in pending] == [1] * 20
    assert not any(t.name.startswith("test-db-") for t in threading.enumerate())
    with pytest.raises(ClosedError):
        await threads.run(_select_one)
    await threads.close()  # a second close does nothing


async def test_a_cancelled_call_that_has_not_begun_never_runs(threads: Threads) -> None:
    loop = asyncio.get_running_loop()
    busy, release = asyncio.Event(), threading.Event()
    started: list[str] = []
    ran: list[str] = []

    def block(_: Connection) -> None:
        started.append(threading.current_thread().name)
        if len(started) == 2:
            loop.call_soon_threadsafe(busy.set)
        release.wait(5)

    blockers = [asyncio.ensure_future(threads.run(block)) for _ in range(2)]
    await busy.wait()  # both threads are busy
    waiting = asyncio.ensure_future(threads.run(lambda _: ran.append("ran")))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await asyncio.gather(*blockers)
    assert await threads.run(_select_one) == 1
    assert ran == []
