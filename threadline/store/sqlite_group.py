"""Group commit on SQLite: the writes that come in one turn of the event loop after its
first are done together, in one transaction, at the start of the next turn.

The first write of a turn is done at once, as before (a lone run's writes wait for
nothing). Under load many come in one turn: at concurrency 64 most writes came in a turn
with ten or more others. Each transaction costs its `BEGIN IMMEDIATE` and its `COMMIT`, and
its commit writes every page it changed to the WAL (two `pwrite`s a page): the writes of
one turn share those, and the pages their rows share (the end of each table and of its
`seq` index). Each write runs under a savepoint of its own, so one that fails is undone
alone and raises to its own caller; one that SQLite refuses (another process holds the
lock) sends the whole group, rolled back, to the writer thread, one write after another
in the order they came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from threadline.store.sqlite_inline import Inline, WouldWaitError

__all__ = ["GroupCommit"]

T = TypeVar("T")

Work = Callable[[Connection], Any]


@dataclass(frozen=True)
class _Queued(Generic[T]):
    work: Callable[[Connection], T]
    future: asyncio.Future[T]


class GroupCommit:
    """Writes on `inline` (the event loop's writing connection); `hop` does one write on
    the writer thread instead, and `transaction` runs a work in one transaction."""

    def __init__(
        self,
        inline: Inline,
        hop: Callable[[Work], Awaitable[Any]],
        transaction: Callable[[Connection, Work], Any],
    ) -> None:
        self._inline = inline
        self._hop = hop
        self._transaction = transaction
        # The loop in whose current turn a write was done at once, if any.
        self._turn: asyncio.AbstractEventLoop | None = None
        self._queued: list[_Queued[Any]] = []

    async def write(self, work: Callable[[Connection], T]) -> T:
        if not self._inline.here():
            result: T = await self._hop(work)
            return result
        loop = asyncio.get_running_loop()
        if self._turn is not loop:  # this turn's first (a turn of a loop since closed is over)
            self._turn, self._queued = loop, []
            loop.call_soon(self._end_turn)
            try:
                done: T = self._inline.run(lambda conn: self._transaction(conn, work))
                return done
            except WouldWaitError:
                hopped: T = await self._hop(work)
                return hopped
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append(_Queued(work, future))
        return await future

    def _end_turn(self) -> None:
        queued, self._queued = self._queued, []
        self._turn = None
        live = [q for q in queued if not q.future.cancelled()]
        if live:
            self._commit(live)

    def _commit(self, queued: list[_Queued[Any]]) -> None:
        each = _each([q.work for q in queued], self._inline.refuses)
        try:
            outcomes = self._inline.run(lambda conn: self._transaction(conn, each))
        except WouldWaitError:
            for q in queued:
                self._redo(q)
            return
        except BaseException as error:  # the transaction itself failed: nothing was written
            for q in queued:
                if not q.future.done():
                    q.future.set_exception(error)
            return
        for q, (value, failure) in zip(queued, outcomes, strict=True):
            if q.future.done():
                continue
            if failure is None:
                q.future.set_result(value)
            else:
                q.future.set_exception(failure)

    def _redo(self, queued: _Queued[Any]) -> None:
        """The write on the writer thread (in the order `_redo` is called), its outcome
        handed to its caller."""
        task = asyncio.ensure_future(self._hop(queued.work))

        def settle(done: asyncio.Future[Any]) -> None:
            if queued.future.done():
                return
            if done.cancelled():
                queued.future.cancel()
                return
            failure = done.exception()
            if failure is not None:
                queued.future.set_exception(failure)
            else:
                queued.future.set_result(done.result())

        task.add_done_callback(settle)
        queued.future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)


def _each(
    works: list[Work], refused: Callable[[BaseException], bool]
) -> Callable[[Connection], list[tuple[Any, BaseException | None]]]:
    """One work after another in the caller's transaction, each under a savepoint: the
    outcome of each (its value, or what it raised, its changes undone). An error `refused`
    (SQLite declining to wait) raises out of all of them."""

    def run(conn: Connection) -> list[tuple[Any, BaseException | None]]:
        driver = conn.connection.driver_connection
        assert driver is not None
        outcomes: list[tuple[Any, BaseException | None]] = []
        for work in works:
            driver.execute("SAVEPOINT threadline_write").close()
            try:
                value = work(conn)
            except Exception as error:
                if refused(error):
                    raise
                driver.execute("ROLLBACK TO threadline_write").close()
                driver.execute("RELEASE threadline_write").close()
                outcomes.append((None, error))
                continue
            driver.execute("RELEASE threadline_write").close()
            outcomes.append((value, None))
        return outcomes

    return run
