"""pgvector: the PostgreSQL store's vector index, where the server offers the extension.

At open (`prepare`), when `vector` is in `pg_available_extensions` and `CREATE EXTENSION`
succeeds (or it is there already), the store keeps each chunk's embedding a second time as a
`vector` in `chunk_vectors` (keyed like `chunks`, deleted with them by a cascading foreign
key), fills it for chunks stored before, and searches it with an HNSW index (cosine) per
embedding width: a partial expression index on `embedding::vector(<dimensions>)`, made when
the first chunk of that width is stored. Searches narrowed to some vector stores use
pgvector's iterative index scans, so a filter does not starve the result.

Where the extension is missing (Debian's PostgreSQL without the pgvector package) or may not
be created (no privilege), the store logs it once and keeps the numpy scan (`ScanIndex`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from threadline.store.base import NearChunk
from threadline.store.vector_index import INDEX_PREFIX, NearQuery

__all__ = ["PgVectorIndex", "available"]

logger = logging.getLogger("threadline.store")

TABLE = INDEX_PREFIX
# Serialises index creation between processes: ASCII "thrdvect".
INDEX_LOCK_KEY = 0x7468_7264_7665_6374
# Candidates an HNSW scan keeps (pgvector's default is 40); at least the asked limit.
EF_SEARCH = 100
BACKFILL_BATCH = 500


def _literal(vector: bytes) -> str:
    """A float32 vector as pgvector's text form."""
    values = np.frombuffer(vector, dtype=np.float32)
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def available(conn: Connection) -> bool:
    """Make sure the `vector` extension is there; False (logged) where it cannot be."""
    offered = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')")
    ).scalar_one()
    if not offered:
        logger.warning(
            "PostgreSQL has no pgvector extension: vectors are searched with a numpy scan "
            "(slower; install pgvector for an HNSW index)"
        )
        return False
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    except DBAPIError as exc:
        logger.warning(
            "CREATE EXTENSION vector failed (%s): vectors are searched with a numpy scan",
            str(exc.orig).strip(),
        )
        return False
    return True


class PgVectorIndex:
    """KNN with pgvector's HNSW indexes over `chunk_vectors`."""

    name = "pgvector"

    def prepare(self, conn: Connection) -> None:
        """Create `chunk_vectors` and fill it for chunks stored without it (in the
        migration's transaction, under its lock)."""
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                "vector_store_id text NOT NULL, file_id text NOT NULL, "
                "chunk_index integer NOT NULL, embedding_model text NOT NULL, "
                "embedding vector NOT NULL, "
                "PRIMARY KEY (vector_store_id, file_id, chunk_index), "
                "FOREIGN KEY (vector_store_id, file_id, chunk_index) REFERENCES chunks "
                "(vector_store_id, file_id, chunk_index) ON DELETE CASCADE)"
            )
        )
        missing = text(
            "SELECT c.vector_store_id, c.file_id, c.chunk_index, c.embedding_model, c.vector "
            f"FROM chunks AS c WHERE NOT EXISTS (SELECT 1 FROM {TABLE} AS v "
            "WHERE v.vector_store_id = c.vector_store_id AND v.file_id = c.file_id "
            "AND v.chunk_index = c.chunk_index) LIMIT :n"
        )
        filled = 0
        while rows := conn.execute(missing, {"n": BACKFILL_BATCH}).all():
            self._insert(conn, rows)
            filled += len(rows)
        if filled:  # the planner picks the HNSW index once it knows the table's size
            conn.execute(text(f"ANALYZE {TABLE}"))

    def _insert(self, conn: Connection, rows: Sequence[Any]) -> None:
        usable = [r for r in rows if r[4] and len(r[4]) % 4 == 0]
        if usable:
            conn.execute(
                text(
                    f"INSERT INTO {TABLE} (vector_store_id, file_id, chunk_index, "
                    "embedding_model, embedding) VALUES (:s, :f, :i, :m, CAST(:e AS vector)) "
                    "ON CONFLICT DO NOTHING"
                ),
                [{"s": r[0], "f": r[1], "i": r[2], "m": r[3], "e": _literal(r[4])} for r in usable],
            )
        for width in sorted({len(r[4]) for r in usable}):
            self._ensure_index(conn, width // 4)
        if len(usable) < len(rows):
            logger.warning("%d chunks have no usable vector", len(rows) - len(usable))

    def _ensure_index(self, conn: Connection, dimensions: int) -> None:
        name = f"{TABLE}_hnsw_{int(dimensions)}"
        exists = conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})
        if exists.scalar_one():
            return
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INDEX_LOCK_KEY})
        d = int(dimensions)
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} USING hnsw "
                f"((embedding::vector({d})) vector_cosine_ops) WHERE vector_dims(embedding) = {d}"
            )
        )

    def add(self, conn: Connection, vector_store_id: str, file_id: str) -> None:
        rows = conn.execute(
            text(
                "SELECT vector_store_id, file_id, chunk_index, embedding_model, vector "
                "FROM chunks WHERE vector_store_id = :s AND file_id = :f"
            ),
            {"s": vector_store_id, "f": file_id},
        ).all()
        self._insert(conn, rows)

    def nearest(self, conn: Connection, query: NearQuery) -> list[NearChunk]:
        # Chunks exist only for completed files, so `chunk_vectors` alone answers: a join
        # would keep the planner from the HNSW index.
        d = query.dimensions
        if not d:
            return []
        ef = max(EF_SEARCH, min(query.limit, 1000))
        conn.execute(
            text(
                "SELECT set_config('hnsw.ef_search', :ef, false), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', false)"
            ),
            {"ef": str(ef)},
        )
        files = "AND v.file_id IN :file_ids " if query.file_ids is not None else ""
        statement = text(
            "SELECT v.vector_store_id, v.file_id, v.chunk_index, "
            f"(v.embedding::vector({d})) <=> CAST(:vector AS vector({d})) AS distance "
            f"FROM {TABLE} AS v "
            f"WHERE vector_dims(v.embedding) = {d} AND v.vector_store_id IN :ids "
            f"AND v.embedding_model = :model {files}"
            "ORDER BY distance LIMIT :k"
        ).bindparams(bindparam("ids", expanding=True))
        params: dict[str, Any] = {
            "vector": _literal(query.vector),
            "k": query.limit,
            "ids": list(query.vector_store_ids),
            "model": query.model,
        }
        if query.file_ids is not None:
            statement = statement.bindparams(bindparam("file_ids", expanding=True))
            params["file_ids"] = list(query.file_ids)
        rows = conn.execute(statement, params).all()
        found = [NearChunk(r[0], r[1], r[2], 1.0 - float(r[3])) for r in rows]
        return sorted(found, key=lambda n: -n.similarity)  # relaxed order: nearly sorted
