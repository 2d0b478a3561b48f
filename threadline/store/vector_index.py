"""The vector half of search inside the SQL store: each database finds the chunks nearest to
a query vector with the index it has (`sqlite_vec.py`, `pgvector.py`), or, where it has none,
with `ScanIndex`: every candidate vector read and scored by numpy (exact, and slower).

An index is kept beside the `chunks` table, outside the declared schema (its shape depends
on the embedding dimensions and on an extension being there): `is_index_table` names what
belongs to it, so that schema comparisons leave it out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Connection

from threadline.store import schema
from threadline.store.base import NearChunk

__all__ = [
    "INDEX_PREFIX",
    "NearQuery",
    "ScanIndex",
    "VectorIndex",
    "completed_chunks",
    "is_index_table",
    "scan_nearest",
]

INDEX_PREFIX = "chunk_vectors"


def is_index_table(name: str | None) -> bool:
    """Whether a table (or index) belongs to a vector index rather than the schema."""
    return name is not None and name.startswith(INDEX_PREFIX)


@dataclass(frozen=True)
class NearQuery:
    vector_store_ids: Sequence[str]
    model: str
    vector: bytes  # float32
    limit: int
    file_ids: Sequence[str] | None = None

    @property
    def dimensions(self) -> int:
        return len(self.vector) // 4


class VectorIndex(Protocol):
    """What the SQL store asks of a database's vector index; each method runs inside the
    store's own read or write."""

    @property
    def name(self) -> str: ...

    def add(self, conn: Connection, vector_store_id: str, file_id: str) -> None:
        """Index the chunks just stored for one vector store file (same transaction)."""
        ...

    def nearest(self, conn: Connection, query: NearQuery) -> list[NearChunk]: ...


def scan_nearest(
    rows: Iterable[tuple[str, str, int, bytes]], vector: bytes, limit: int
) -> list[NearChunk]:
    """The `limit` rows (vector_store_id, file_id, index, vector) nearest to `vector` by
    cosine, computed exactly; rows of other dimensions are skipped."""
    kept = [row for row in rows if len(row[3]) == len(vector)]
    if not kept or limit <= 0:
        return []
    matrix = np.frombuffer(b"".join(row[3] for row in kept), dtype=np.float32)
    matrix = matrix.reshape(len(kept), len(vector) // 4)
    query = np.frombuffer(vector, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query))
    similarity = (matrix @ query) / np.where(norms > 0.0, norms, 1.0)
    best = np.argsort(-similarity, kind="stable")[:limit]
    return [NearChunk(kept[i][0], kept[i][1], kept[i][2], float(similarity[i])) for i in best]


_chunks = schema.chunks
_files = schema.vector_store_files


def completed_chunks(query: NearQuery) -> Select[Any]:
    """The SELECT of the query's candidate chunks of completed files: key and vector."""
    k = _chunks.c
    statement = (
        select(k.vector_store_id, k.file_id, k.chunk_index, k.vector)
        .join(_files, (_files.c.vector_store_id == k.vector_store_id) & (_files.c.id == k.file_id))
        .where(k.vector_store_id.in_(bindparam("ids", expanding=True)))
        .where(_files.c.status == "completed", k.embedding_model == query.model)
        .where(func.length(k.vector) == len(query.vector))
    )
    if query.file_ids is not None:
        statement = statement.where(k.file_id.in_(bindparam("file_ids", expanding=True)))
    return statement


class ScanIndex:
    """No index: the candidate vectors are read and scored exactly by numpy."""

    name = "numpy"

    def add(self, conn: Connection, vector_store_id: str, file_id: str) -> None:
        pass

    def nearest(self, conn: Connection, query: NearQuery) -> list[NearChunk]:
        params: dict[str, object] = {"ids": list(query.vector_store_ids)}
        if query.file_ids is not None:
            params["file_ids"] = list(query.file_ids)
        rows = conn.execute(completed_chunks(query), params).all()
        return scan_nearest(((r[0], r[1], r[2], r[3]) for r in rows), query.vector, query.limit)
