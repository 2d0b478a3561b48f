"""The in-memory store's vector stores, their files, batches and chunks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from threadline.protocol.common import ListQuery
from threadline.protocol.files import FileObject
from threadline.protocol.vector_stores import Attributes, FileBatch, VectorStore, VectorStoreFile
from threadline.store.base import FileClaim, FileStats, NearChunk, Page, StoredChunk
from threadline.store.memory_tables import Table, paginate
from threadline.store.vector_index import scan_nearest

__all__ = ["MemoryVectorStores"]

T = TypeVar("T")


@dataclass
class _FileRow:
    seq: int
    file: VectorStoreFile
    batch_id: str | None = None
    owner: str | None = None
    until: float = 0.0
    attempts: int = 0
    chunks: list[StoredChunk] = dataclasses.field(default_factory=list)


class MemoryVectorStores:
    """Mixed into `MemoryStore`, whose `_seq` orders every object."""

    _seq: Iterator[int]
    _files: Table[FileObject]

    def _init_vectors(self) -> None:
        self._vector_stores: dict[str, tuple[int, VectorStore]] = {}
        self._vs_files: dict[tuple[str, str], _FileRow] = {}
        self._batches: dict[str, FileBatch] = {}

    async def insert_vector_store(
        self, store: VectorStore, files: Sequence[VectorStoreFile] = ()
    ) -> None:
        self._vector_stores[store.id] = (next(self._seq), store)
        await self.insert_vector_store_files(files)

    async def get_vector_store(self, vector_store_id: str) -> VectorStore | None:
        row = self._vector_stores.get(vector_store_id)
        return row[1] if row else None

    async def replace_vector_store(self, store: VectorStore) -> bool:
        row = self._vector_stores.get(store.id)
        if row is None:
            return False
        self._vector_stores[store.id] = (row[0], store)
        return True

    async def delete_vector_store(self, vector_store_id: str) -> bool:
        if self._vector_stores.pop(vector_store_id, None) is None:
            return False
        for key in [k for k in self._vs_files if k[0] == vector_store_id]:
            del self._vs_files[key]
        for batch_id in [
            b.id for b in self._batches.values() if b.vector_store_id == vector_store_id
        ]:
            del self._batches[batch_id]
        return True

    async def list_vector_stores(self, query: ListQuery) -> Page[VectorStore]:
        items = [(seq, vs) for seq, vs in self._vector_stores.values()]
        seq_of = {vs.id: seq for seq, vs in self._vector_stores.values()}
        return paginate(items, query, seq_of.get)

    def _rows_of(self, vector_store_id: str) -> list[_FileRow]:
        rows = [r for k, r in self._vs_files.items() if k[0] == vector_store_id]
        return sorted(rows, key=lambda r: r.seq)

    async def vector_store_stats(
        self, vector_store_id: str, batch_id: str | None = None
    ) -> FileStats:
        rows = [
            r for r in self._rows_of(vector_store_id) if batch_id is None or r.batch_id == batch_id
        ]
        counts: Counter[str] = Counter(r.file.status for r in rows)
        return FileStats(dict(counts), sum(r.file.usage_bytes for r in rows))

    async def insert_vector_store_files(
        self, files: Sequence[VectorStoreFile], batch: FileBatch | None = None
    ) -> bool:
        if any(f.vector_store_id not in self._vector_stores for f in files):
            return False
        if batch is not None:
            if batch.vector_store_id not in self._vector_stores:
                return False
            self._batches[batch.id] = batch
        for file in files:
            key = (file.vector_store_id, file.id)
            self._vs_files[key] = _FileRow(next(self._seq), file, batch.id if batch else None)
        return True

    async def get_vector_store_file(
        self, vector_store_id: str, file_id: str
    ) -> VectorStoreFile | None:
        row = self._vs_files.get((vector_store_id, file_id))
        return row.file if row else None

    async def list_vector_store_files(
        self,
        vector_store_id: str,
        query: ListQuery,
        status: str | None = None,
        batch_id: str | None = None,
    ) -> Page[VectorStoreFile]:
        rows = self._rows_of(vector_store_id)
        seq_of = {r.file.id: r.seq for r in rows}
        kept = [
            (r.seq, r.file)
            for r in rows
            if (status is None or r.file.status == status)
            and (batch_id is None or r.batch_id == batch_id)
        ]
        return paginate(kept, query, seq_of.get)

    async def delete_vector_store_file(self, vector_store_id: str, file_id: str) -> bool:
        return self._vs_files.pop((vector_store_id, file_id), None) is not None

    async def get_file_batch(self, vector_store_id: str, batch_id: str) -> FileBatch | None:
        batch = self._batches.get(batch_id)
        return batch if batch is not None and batch.vector_store_id == vector_store_id else None

    async def cancel_file_batch(self, vector_store_id: str, batch_id: str) -> FileBatch | None:
        batch = await self.get_file_batch(vector_store_id, batch_id)
        if batch is None:
            return None
        batch = batch.model_copy(update={"status": "cancelled"})
        self._batches[batch_id] = batch
        for row in self._rows_of(vector_store_id):
            if row.batch_id == batch_id and row.file.status == "in_progress":
                row.file = row.file.model_copy(update={"status": "cancelled"})
        return batch

    async def claim_vector_store_file(
        self, owner: str, now: float, lease_seconds: float
    ) -> FileClaim | None:
        for row in sorted(self._vs_files.values(), key=lambda r: r.seq):
            if row.file.status == "in_progress" and row.until <= now:
                row.owner, row.until = owner, now + lease_seconds
                row.attempts += 1
                return FileClaim(row.file, row.attempts)
        return None

    async def finish_vector_store_file(
        self, file: VectorStoreFile, chunks: Sequence[StoredChunk], owner: str
    ) -> bool:
        row = self._vs_files.get((file.vector_store_id, file.id))
        if row is None or row.owner != owner or row.file.status != "in_progress":
            return False
        # Attributes may have been updated while the file was ingested.
        row.file = file.model_copy(update={"attributes": row.file.attributes})
        row.chunks = list(chunks)
        row.owner, row.until = None, 0.0
        return True

    async def update_vector_store_file_attributes(
        self, vector_store_id: str, file_id: str, attributes: Attributes
    ) -> VectorStoreFile | None:
        row = self._vs_files.get((vector_store_id, file_id))
        if row is None:
            return None
        row.file = row.file.model_copy(update={"attributes": attributes})
        return row.file

    async def vector_store_file_chunks(
        self, vector_store_id: str, file_id: str
    ) -> list[StoredChunk]:
        row = self._vs_files.get((vector_store_id, file_id))
        return sorted(row.chunks, key=lambda c: c.index) if row is not None else []

    async def renew_vector_store_file_lease(
        self, vector_store_id: str, file_id: str, owner: str, now: float, lease_seconds: float
    ) -> bool:
        row = self._vs_files.get((vector_store_id, file_id))
        if row is None or row.owner != owner or row.file.status != "in_progress":
            return False
        row.until = now + lease_seconds
        return True

    def _completed_chunks(self, vector_store_ids: Sequence[str]) -> Iterator[StoredChunk]:
        for vector_store_id in vector_store_ids:
            for row in self._rows_of(vector_store_id):
                if row.file.status == "completed":
                    yield from row.chunks

    async def searchable_files(
        self, vector_store_ids: Sequence[str]
    ) -> list[tuple[VectorStoreFile, FileObject]]:
        found = []
        for vector_store_id in dict.fromkeys(vector_store_ids):
            for row in self._rows_of(vector_store_id):
                file = self._files.get(row.file.id)
                if row.file.status == "completed" and file is not None:
                    found.append((row.file, file))
        return found

    async def vector_store_chunks(
        self, vector_store_ids: Sequence[str], *, vectors: bool = True
    ) -> list[StoredChunk]:
        return list(self._completed_chunks(vector_store_ids))  # vectors cost nothing here

    @property
    def vector_index(self) -> str:
        return "numpy"

    async def nearest_chunks(
        self,
        vector_store_ids: Sequence[str],
        model: str,
        vector: bytes,
        limit: int,
        file_ids: Sequence[str] | None = None,
    ) -> list[NearChunk]:
        wanted = None if file_ids is None else set(file_ids)
        rows = (
            (c.vector_store_id, c.file_id, c.index, c.vector)
            for c in self._completed_chunks(list(dict.fromkeys(vector_store_ids)))
            if c.model == model and (wanted is None or c.file_id in wanted)
        )
        return scan_nearest(rows, vector, limit)
