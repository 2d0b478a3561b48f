"""Store work for the tests of SQLite's write paths (`test_sqlite_inline.py`,
`test_sqlite_group.py`): a table `t` of ids, rows put in and read back, and another
connection holding the write lock."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["WORK_FILE", "create_table", "ids", "insert", "write_lock"]

# The file of the `database` fixture (conftest.py), in the test's tmp_path.
WORK_FILE = "work.db"


def create_table(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE t (id TEXT PRIMARY KEY)"))


def insert(*names: str) -> Callable[[Connection], str]:
    """Work that inserts `names` into `t`, returning the name of the thread it ran on."""

    def work(conn: Connection) -> str:
        for name in names:
            conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": name})
        return threading.current_thread().name

    return work


def ids(conn: Connection) -> list[str]:
    """The ids in `t`, in the order they were inserted."""
    return list(conn.execute(text("SELECT id FROM t ORDER BY rowid")).scalars())


@contextlib.contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock, as another process's write."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.close()
