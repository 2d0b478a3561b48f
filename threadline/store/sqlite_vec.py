"""sqlite-vec: the SQLite store's vector index.

The stdlib `sqlite3` of many Pythons cannot load extensions, so the SQLite store uses
`pysqlite3` (a drop-in DB-API module with its own, newer SQLite) when it and the `sqlite_vec`
extension load, and loads the extension on every connection (`vector_driver`). Where either
is missing, the store keeps the stdlib driver and the numpy scan (`ScanIndex`), with one log
line.

Each embedding width has a `vec0` virtual table, `chunk_vectors_<dimensions>`, made when the
first chunk of that width is stored. Its rowid is the chunk's rowid in `chunks`; its
partition key is the vector store, so a search reads only the searched stores' vectors; the
model and file are metadata columns it filters on. An AFTER DELETE trigger on `chunks` (cascades
from vector stores and files included) deletes the chunk's vector.

A database opened once without sqlite-vec drops those triggers (deletes would otherwise fail
without the module); opened with it again, the index sees a table without its trigger and is
rebuilt from `chunks`."""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from threadline.store.base import NearChunk
from threadline.store.vector_index import INDEX_PREFIX, NearQuery

__all__ = ["MAX_K", "SQLiteVecIndex", "drop_triggers", "load_extension", "vector_driver"]

logger = logging.getLogger("threadline.store")

# sqlite-vec's largest `k` for one KNN query.
MAX_K = 4096


@functools.cache
def vector_driver() -> ModuleType | None:
    """`pysqlite3.dbapi2` when it can load sqlite-vec here; None (logged once) otherwise."""
    try:
        from pysqlite3 import dbapi2

        probe = dbapi2.connect(":memory:")
        try:
            load_extension(probe)
            probe.execute("SELECT vec_version()").fetchone()
        finally:
            probe.close()
    except Exception as exc:  # ImportError, or an extension that will not load here
        logger.warning(
            "sqlite-vec unavailable (%s: %s): SQLite searches vectors with a numpy scan",
            type(exc).__name__,
            exc,
        )
        return None
    module: ModuleType = dbapi2
    return module


def load_extension(dbapi_connection: Any) -> None:
    """Load sqlite-vec into one DB-API connection (of `vector_driver()`'s module)."""
    import sqlite_vec

    dbapi_connection.enable_load_extension(True)
    try:
        sqlite_vec.load(dbapi_connection)
    finally:
        dbapi_connection.enable_load_extension(False)


def _table(dimensions: int) -> str:
    return f"{INDEX_PREFIX}_{int(dimensions)}"


def _index_tables(conn: Connection) -> list[str]:
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ? "
        "AND sql LIKE 'CREATE VIRTUAL TABLE%'",
        (f"{INDEX_PREFIX}_[0-9]*",),
    ).all()
    return [row[0] for row in rows]


def _triggers(conn: Connection) -> set[str]:
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name GLOB ?",
        (f"{INDEX_PREFIX}_*",),
    ).all()
    return {row[0] for row in rows}


def drop_triggers(conn: Connection) -> None:
    """Without the extension: drop the index's triggers (they would fail every chunk
    delete), which also marks the index stale for the next process that has sqlite-vec."""
    for name in _triggers(conn):
        conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')


class SQLiteVecIndex:
    """KNN over `vec0` tables, one per embedding width."""

    name = "sqlite-vec"

    def prepare(self, conn: Connection) -> None:
        """At open (in the writer's transaction): rebuild the index when a process without
        sqlite-vec used the database since (see the module's docstring)."""
        tables = _index_tables(conn)
        triggers = _triggers(conn)
        if tables:
            stale = any(f"{table}_delete" not in triggers for table in tables)
        else:
            stale = conn.exec_driver_sql("SELECT 1 FROM chunks LIMIT 1").first() is not None
        if not stale:
            return
        logger.info("rebuilding the sqlite-vec index from the stored chunks")
        for table in tables:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        widths = conn.exec_driver_sql("SELECT DISTINCT length(vector) FROM chunks").all()
        for (width,) in widths:
            if width and width % 4 == 0:
                table = self._ensure(conn, width // 4)
                conn.exec_driver_sql(
                    f'INSERT INTO "{table}" (rowid, vector_store_id, embedding_model, file_id, '
                    "embedding) SELECT rowid, vector_store_id, embedding_model, file_id, vector "
                    "FROM chunks WHERE length(vector) = ?",
                    (width,),
                )

    def _ensure(self, conn: Connection, dimensions: int) -> str:
        table = _table(dimensions)
        conn.exec_driver_sql(
            f'CREATE VIRTUAL TABLE IF NOT EXISTS "{table}" USING vec0('
            "vector_store_id text partition key, embedding_model text, file_id text, "
            f"embedding float[{int(dimensions)}] distance_metric=cosine)"
        )
        conn.exec_driver_sql(
            f'CREATE TRIGGER IF NOT EXISTS "{table}_delete" AFTER DELETE ON chunks '
            f"WHEN length(old.vector) = {4 * int(dimensions)} "
            f'BEGIN DELETE FROM "{table}" WHERE rowid = old.rowid; END'
        )
        return table

    def add(self, conn: Connection, vector_store_id: str, file_id: str) -> None:
        key = (vector_store_id, file_id)
        widths = conn.exec_driver_sql(
            "SELECT DISTINCT length(vector) FROM chunks WHERE vector_store_id = ? AND file_id = ?",
            key,
        ).all()
        for (width,) in widths:
            if not width or width % 4:
                continue
            table = self._ensure(conn, width // 4)
            conn.exec_driver_sql(
                f'INSERT INTO "{table}" (rowid, vector_store_id, embedding_model, file_id, '
                "embedding) SELECT rowid, vector_store_id, embedding_model, file_id, vector "
                "FROM chunks WHERE vector_store_id = ? AND file_id = ? AND length(vector) = ?",
                (*key, width),
            )

    def nearest(self, conn: Connection, query: NearQuery) -> list[NearChunk]:
        table = _table(query.dimensions)
        if not query.dimensions or table not in _index_tables(conn):
            return []
        files = "AND file_id IN :file_ids " if query.file_ids is not None else ""
        statement = text(
            "WITH knn AS ("
            f'SELECT rowid, distance FROM "{table}" WHERE embedding MATCH :vector '
            "AND k = :k AND vector_store_id IN :ids AND embedding_model = :model "
            f"{files}) "
            "SELECT c.vector_store_id, c.file_id, c.chunk_index, knn.distance "
            "FROM knn JOIN chunks AS c ON c.rowid = knn.rowid "
            "JOIN vector_store_files AS f "
            "ON f.vector_store_id = c.vector_store_id AND f.id = c.file_id "
            "WHERE f.status = 'completed' ORDER BY knn.distance"
        ).bindparams(bindparam("ids", expanding=True))
        params: dict[str, Any] = {
            "vector": query.vector,
            "k": min(query.limit, MAX_K),
            "ids": list(query.vector_store_ids),
            "model": query.model,
        }
        if query.file_ids is not None:
            statement = statement.bindparams(bindparam("file_ids", expanding=True))
            params["file_ids"] = list(query.file_ids)
        rows = conn.execute(statement, params).all()
        return [NearChunk(r[0], r[1], r[2], 1.0 - float(r[3])) for r in rows]
