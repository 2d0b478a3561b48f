"""Threads that run store work, each on a database connection of its own, fed from one
queue: what lets a store call cost one hop from the event loop.

Leaner than `loop.run_in_executor`: a job is a tuple on a `SimpleQueue`, and a thread that
finds more jobs waiting settles the finished ones together, waking the loop once for up to
`SETTLE_BATCH` of them instead of once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy.engine import Connection, Engine

__all__ = ["ClosedError", "Threads"]

T = TypeVar("T")

SETTLE_BATCH = 8


class ClosedError(RuntimeError):
    """The database was closed."""


class _Job(NamedTuple, Generic[T]):
    work: Callable[[Connection], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop


class _Stop(NamedTuple):
    """Tells the thread that takes it to close its connection and end."""

    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class _Outcome(NamedTuple):
    future: asyncio.Future[Any]
    value: Any
    error: BaseException | None


class _Connection:
    """A thread's connection, opened when its first job comes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._engine.connect()
        return work(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Threads:
    """`count` threads taking jobs from one queue; each thread opens, uses and closes its
    own connection of `engine`, so no connection ever crosses threads."""

    def __init__(self, engine: Engine, count: int, name: str) -> None:
        self._engine = engine
        self._jobs: queue.SimpleQueue[_Job[Any] | _Stop] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()
        self._closed = False
        self._pending = 0  # jobs handed in and not yet settled, counted on the loop's side

    @property
    def idle(self) -> bool:
        """True when open and no job handed in is waiting or being done."""
        return self._pending == 0 and not self._closed

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work` on one of the threads: its result, or what it raised."""
        if self._closed:
            raise ClosedError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, future, loop))
        self._pending += 1
        try:
            return await future
        finally:
            self._pending -= 1

    async def close(self) -> None:
        """Let the threads finish the jobs handed in before, then end them."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        stops = [_Stop(loop.create_future(), loop) for _ in self._threads]
        for stop in stops:
            self._jobs.put(stop)
        await asyncio.gather(*(stop.future for stop in stops))
        for thread in self._threads:
            thread.join()
        self._engine.dispose()

    def _serve(self) -> None:
        connection = _Connection(self._engine)
        stop = self._work(connection)
        _settle([(stop.loop, _attempt(stop.future, connection.close))])

    def _work(self, connection: _Connection) -> _Stop:
        """Do jobs until told to stop. Outcomes wait to be settled only while more jobs
        are there to do at once: the thread never blocks on the queue with any unsettled."""
        done: list[tuple[asyncio.AbstractEventLoop, _Outcome]] = []
        while True:
            try:
                job = self._jobs.get_nowait() if done else self._jobs.get()
            except queue.Empty:
                _settle(done)
                done = []
                continue
            if isinstance(job, _Stop):
                _settle(done)
                return job
            if not job.future.cancelled():  # its caller gave up before it began
                done.append((job.loop, _attempt(job.future, connection.run, job.work)))
            if len(done) >= SETTLE_BATCH:
                _settle(done)
                done = []


def _attempt(future: asyncio.Future[Any], call: Callable[..., Any], *args: Any) -> _Outcome:
    try:
        return _Outcome(future, call(*args), None)
    except BaseException as error:  # handed to the caller, whatever it is
        return _Outcome(future, None, error)


def _settle(done: list[tuple[asyncio.AbstractEventLoop, _Outcome]]) -> None:
    """Hand the outcomes to their loops (once per loop), from a database thread."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for loop, outcome in done:
        by_loop.setdefault(loop, []).append(outcome)
    for loop, outcomes in by_loop.items():
        # RuntimeError: the loop was closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, outcomes)


def _resolve(outcomes: list[_Outcome]) -> None:
    """On the loop's thread: complete each caller's future."""
    for future, value, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
