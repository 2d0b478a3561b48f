"""Store calls done at once on the calling thread (the event loop's) instead of on a
database thread. SQLite finds a row by key in ~10-40 us and commits a run's write in a few
hundred; the hop to a database thread and back costs ~0.2-0.5 ms more in wake-ups, and at
times several ms (measured on the 2-core development machine, a virtual one), which a run
paid on each store call on its way to the model and back.

Each connection never waits: its busy timeout is zero, so where SQLite would wait (a lock
held by another process's write, or while a WAL file is recovered or restarted) the call
is refused at once and the caller hops to a database thread, which waits as every call did
before. A write refused is rolled back first: the thread then does all of it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

__all__ = ["Inline", "WouldWaitError", "refused"]

T = TypeVar("T")

_WOULD_WAIT = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class WouldWaitError(Exception):
    """The call cannot be done at once here: do it on a database thread."""


def refused(error: BaseException) -> bool:
    """True when `error` (SQLAlchemy's or the driver's) is SQLite declining to wait."""
    cause = error.orig if isinstance(error, OperationalError) else error
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _WOULD_WAIT
    return "locked" in str(cause) or "busy" in str(cause)


class Inline:
    """One connection of `engine`, opened on the first call by the thread that makes it and
    used by that thread only (a connection of the sqlite3 module stays with its thread).
    `hop`: the errors that send the call to a database thread, all of them if unset (reads,
    which may run again); `OperationalError`s only, the driver's ones included."""

    def __init__(self, engine: Engine, hop: Callable[[BaseException], bool] | None = None) -> None:
        self._engine = engine
        self._hop = hop
        self._owner: int | None = None
        self._conn: Connection | None = None
        self._closed = False
        module = engine.dialect.loaded_dbapi
        self._errors = (OperationalError, sqlite3.OperationalError, module.OperationalError)

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work` now, on this thread's connection; `WouldWaitError` where it cannot be."""
        conn = self._connection()
        try:
            return work(conn)
        except self._errors as error:
            if not self.refuses(error):
                raise
            raise WouldWaitError() from error
        finally:
            conn.rollback()  # ends SQLAlchemy's bookkeeping only: no transaction is open

    def here(self) -> bool:
        """True when a call on this thread can be done here (else it is refused)."""
        return not self._closed and self._owner in (None, threading.get_ident())

    def refuses(self, error: BaseException) -> bool:
        """True when `run` would refuse a call that raised `error` (send it elsewhere)."""
        return isinstance(error, self._errors) and (self._hop is None or self._hop(error))

    def _connection(self) -> Connection:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        if self._owner != me or self._closed:
            raise WouldWaitError()
        if self._conn is None:
            conn = self._engine.connect()
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA busy_timeout=0").close()  # outside any transaction
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (from its own thread; elsewhere it is left to the GC); any
        later call is refused."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None and self._owner == threading.get_ident():
            conn.close()
