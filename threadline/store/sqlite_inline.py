"""Reads by key done at once on the calling thread (the event loop's) instead of on a
reader thread. SQLite finds a row by key in ~10-40 us; the hop to a reader thread and back
costs more than that in CPU and ~0.2-0.5 ms in wake-ups (measured on the 2-core development
machine, a virtual one), which a run paid two or three times on its way to the model.

The connection never waits: its busy timeout is zero, so where SQLite would wait (a lock
held while a WAL file is recovered or restarted) the read is refused at once and the
caller hops to a reader thread, which waits as every read did before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

__all__ = ["InlineReads", "WouldWaitError"]

T = TypeVar("T")


class WouldWaitError(Exception):
    """The read cannot be done at once here: do it on a reader thread."""


class InlineReads:
    """One connection, opened on the first read by the thread that makes it and used by
    that thread only (a connection of the sqlite3 module stays with its thread)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._owner: int | None = None
        self._conn: Connection | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work` now, on this thread's connection; `WouldWaitError` where it cannot be."""
        conn = self._connection()
        try:
            return work(conn)
        except OperationalError as error:  # SQLITE_BUSY, or anything the hop may retry
            raise WouldWaitError() from error
        finally:
            conn.rollback()  # ends SQLAlchemy's bookkeeping only: there is no transaction

    def _connection(self) -> Connection:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        if self._owner != me:
            raise WouldWaitError()
        if self._conn is None:
            conn = self._engine.connect()
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (from its own thread; elsewhere it is left to the GC)."""
        conn, self._conn = self._conn, None
        if conn is not None and self._owner == threading.get_ident():
            conn.close()
