"""SQLite engines: one writer behind a lock with `BEGIN IMMEDIATE`, pooled readers, WAL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

__all__ = ["SQLiteDatabase", "sqlite_path"]

BUSY_TIMEOUT_MS = 10_000
READ_POOL_SIZE = 4
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
    """All writes go through one connection, one transaction at a time; reads use a
    separate pool and see the last committed state (WAL)."""

    computes_seq = True

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        url = URL.create("sqlite+aiosqlite", database=str(path))
        # write() always ends its transaction, so the pool need not roll back on return.
        self._writer = _engine(url, pool_size=1, pool_reset_on_return=None)
        # Reads are single statements: autocommit spares the BEGIN/COMMIT/ROLLBACK.
        self._reader = _engine(
            url,
            pool_size=READ_POOL_SIZE,
            isolation_level="AUTOCOMMIT",
            skip_autocommit_rollback=True,
        )
        event.listen(self._writer.sync_engine, "begin", _begin_immediate)
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    def write_one(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.write()  # the single writer's transaction serialises it

    async def run_migrations(self, upgrade: Callable[[Connection], None]) -> None:
        await self._use_wal()
        # BEGIN IMMEDIATE also serialises processes that open the same file at once.
        async with self.write() as conn:
            await conn.run_sync(upgrade)

    async def _use_wal(self) -> None:
        """Switch the file to WAL (it stays so). The switch needs the file to itself, and
        SQLite refuses it at once, without waiting, when that could deadlock with another
        process's write: so try again for a while."""
        for _ in range(WAL_ATTEMPTS - 1):
            try:
                return await self._set_wal()
            except OperationalError:
                await asyncio.sleep(WAL_RETRY_SECONDS)
        await self._set_wal()

    async def _set_wal(self) -> None:
        async with self._reader.connect() as conn:  # autocommit: outside any transaction
            await conn.exec_driver_sql("PRAGMA journal_mode=WAL")

    async def close(self) -> None:
        await self._writer.dispose()
        await self._reader.dispose()


def _engine(url: URL, *, pool_size: int, **options: Any) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 module: the writer's "begin" hook issues it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def _begin_immediate(conn: Connection) -> None:
    # Take the write lock up front: a transaction that reads first and then writes can
    # fail with SQLITE_BUSY_SNAPSHOT when another process wrote meanwhile. Sent straight
    # to aiosqlite (SQLAlchemy's documented way to await a driver method in an event):
    # one trip to its thread instead of three through a SQLAlchemy cursor.
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute("BEGIN IMMEDIATE"))
