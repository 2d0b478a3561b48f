"""The write-ahead log is copied into the database file by the checkpointer's thread, and
never by a commit of the store's writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from threadline.store.sqlite import SQLiteDatabase
from threadline.store.sqlite_checkpoint import Checkpointer


def _wal_database(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE t (data TEXT)")
    return connection


def _write(connection: sqlite3.Connection, rows: int) -> None:
    for _ in range(rows):
        connection.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_log_reaches_the_database_file_without_a_commit_copying_it(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    writer = _wal_database(path)
    _write(writer, 200)
    assert path.stat().st_size < 100_000  # the rows are only in the log
    checkpointer = Checkpointer(path, sqlite3, seconds=0.05)
    try:
        assert _eventually(lambda: path.stat().st_size > 800_000)
    finally:
        checkpointer.stop()
        writer.close()


def test_stopping_checkpoints_once_more_and_ends_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    writer = _wal_database(path)
    checkpointer = Checkpointer(path, sqlite3, seconds=60)
    _write(writer, 200)
    checkpointer.stop()
    assert path.stat().st_size > 800_000
    assert "threadline-sqlite-checkpoint" not in {t.name for t in threading.enumerate()}
    writer.close()


def test_a_missing_file_is_waited_for(tmp_path: Path) -> None:
    checkpointer = Checkpointer(tmp_path / "later.db", sqlite3, seconds=0.01)
    time.sleep(0.05)
    checkpointer.stop()
    assert not (tmp_path / "later.db").exists()


async def test_the_stores_writer_leaves_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    database = SQLiteDatabase(tmp_path / "s.db", vectors=False)

    def setting(conn: Connection) -> object:
        return conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()

    try:
        assert await database.write(setting) == 0  # at once, on the event loop's connection
        assert await database.write(setting, bulk=True) == 0  # on the writer thread
    finally:
        await database.close()
