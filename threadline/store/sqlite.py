"""SQLite: the `sqlite3` driver on threads of its own, so that each store call is one hop
from the event loop. The driver is `pysqlite3` with sqlite-vec loaded on every connection
where both load here, the stdlib `sqlite3` otherwise (`sqlite_vec.py`). One writer thread
holds the only connection that writes (each write one `BEGIN IMMEDIATE` transaction, so
writes queue in order); a few reader threads each hold a connection in autocommit, which
sees the last committed state (WAL). A read by key, and a write while the writer thread has
none to do, is done at once on the event loop's own connections where it need not wait
(`sqlite_inline.py`); the writes that come in one turn of the loop after its first are
committed together (`sqlite_group.py`). The write-ahead log is copied into the database
file by a thread of its own (`sqlite_checkpoint.py`), not in a commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from threadline.store.sqlite_checkpoint import Checkpointer
from threadline.store.sqlite_group import GroupCommit
from threadline.store.sqlite_inline import Inline, WouldWaitError, refused
from threadline.store.sqlite_threads import Threads
from threadline.store.sqlite_vec import SQLiteVecIndex, drop_triggers, load_extension, vector_driver
from threadline.store.vector_index import ScanIndex, VectorIndex

__all__ = ["SQLiteDatabase", "sqlite_path"]

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
READER_THREADS = 2
WAL_ATTEMPTS = 100
WAL_RETRY_SECONDS = 0.05


def sqlite_path(url: str) -> Path:
    """The database file a plain path or a `sqlite:///path` URL names."""
    if "://" not in url:
        return Path(url)
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError(f"Not a SQLite database file: {url!r} (use 'memory://' for no file).")
    return Path(database)


class SQLiteDatabase:
    """Writes go through one connection on one thread, one transaction at a time, or on
    the event loop's own writing connection while that thread is idle (at once, or with the
    other writes of their turn of the loop); reads go to a few threads with connections of
    their own, or by key to the loop's reading one."""

    computes_seq = True
    inline_reads = True

    def __init__(self, path: Path, *, vectors: bool = True) -> None:
        """`vectors=False` keeps the stdlib driver and the numpy scan (tests)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        url = URL.create("sqlite+pysqlite", database=str(path))
        module = vector_driver() if vectors else None
        self._sqlite_vec = SQLiteVecIndex() if module is not None else None
        self.vectors: VectorIndex = self._sqlite_vec or ScanIndex()
        writer = _engine(url, module)
        event.listen(writer, "begin", _begin_immediate)
        event.listen(writer, "connect", _no_autocheckpoint)
        # Reads need no transaction: autocommit spares the BEGIN/COMMIT/ROLLBACK.
        reader = _engine(url, module, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True)
        self._writer = Threads(writer, 1, "threadline-sqlite-writer")
        self._readers = Threads(reader, READER_THREADS, "threadline-sqlite-reader")
        self._inline = Inline(reader)
        self._inline_writes = Inline(writer, hop=refused)
        self._group = GroupCommit(self._inline_writes, self._on_writer, _transaction)
        self._checkpointer = Checkpointer(path, module or sqlite3)

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await self._readers.run(lambda conn: _autocommit(conn, work))

    async def lookup(self, work: Callable[[Connection], T]) -> T:
        try:
            return self._inline.run(work)
        except WouldWaitError:
            return await self.read(work)

    async def write(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        if not bulk and self._writer.idle:  # nothing queued before it: here, in order
            return await self._group.write(work)
        return await self._on_writer(work)

    async def _on_writer(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction on the writer thread (which waits for the lock)."""
        return await self._writer.run(lambda conn: _transaction(conn, work))

    async def write_one(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        return await self.write(work, bulk=bulk)  # the single writer serialises it

    async def run_migrations(self, upgrade: Callable[[Connection], None]) -> None:
        await self._writer.run(_use_wal)
        # BEGIN IMMEDIATE also serialises processes that open the same file at once; on
        # the writer thread, which waits for another process's migration to end.
        await self._on_writer(upgrade)
        index = self._sqlite_vec
        await self._on_writer(drop_triggers if index is None else index.prepare)

    async def close(self) -> None:
        self._inline.close()
        self._inline_writes.close()
        await self._writer.close()
        await self._readers.close()
        await asyncio.to_thread(self._checkpointer.stop)


def _transaction(conn: Connection, work: Callable[[Connection], T]) -> T:
    """`work` in one transaction: committed when it returns, rolled back when it raises."""
    with conn.begin():
        return work(conn)


def _autocommit(conn: Connection, work: Callable[[Connection], T]) -> T:
    try:
        return work(conn)
    finally:
        conn.rollback()  # ends SQLAlchemy's bookkeeping only: there is no transaction


def _driver(conn: Connection) -> Any:
    """The DB-API connection: the stdlib's `sqlite3.Connection` or pysqlite3's."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver


def _use_wal(conn: Connection) -> None:
    """Switch the file to WAL (it stays so). The switch needs the file to itself, and
    SQLite refuses it at once, without waiting, when that could deadlock with another
    process's write: so try again for a while. Outside any transaction, as it must be."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            _driver(conn).execute("PRAGMA journal_mode=WAL").close()
            return
        except (sqlite3.OperationalError, _driver_module(conn).OperationalError):
            if attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(WAL_RETRY_SECONDS)


def _driver_module(conn: Connection) -> Any:
    return conn.dialect.loaded_dbapi


def _engine(url: URL, module: ModuleType | None, **options: Any) -> Engine:
    # No pool: each database thread opens one connection and keeps it till it ends.
    if module is not None:
        options["module"] = module
    engine = create_engine(url, poolclass=NullPool, **options)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 module: the writer's "begin" hook issues it.
        dbapi_connection.isolation_level = None
        if module is not None:
            load_extension(dbapi_connection)
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def _no_autocheckpoint(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # The checkpoints are the checkpointer's (`sqlite_checkpoint.py`): no commit waits for one.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _begin_immediate(conn: Connection) -> None:
    # Take the write lock up front: a transaction that reads first and then writes can
    # fail with SQLITE_BUSY_SNAPSHOT when another process wrote meanwhile.
    _driver(conn).execute("BEGIN IMMEDIATE").close()
