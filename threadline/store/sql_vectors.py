"""The SQL store's vector stores, their files (the ingestion queue), batches and chunks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Double,
    LargeBinary,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Connection

from threadline.protocol.common import ListQuery
from threadline.protocol.files import FileObject
from threadline.protocol.vector_stores import Attributes, FileBatch, VectorStore, VectorStoreFile
from threadline.store import schema, sql_exec
from threadline.store.base import FileClaim, FileStats, NearChunk, Page, StoredChunk
from threadline.store.sql_base import (
    Database,
    SQLBase,
    Statements,
    equals,
    next_seq,
    object_row,
    storable,
)
from threadline.store.sql_pages import Scope
from threadline.store.vector_index import NearQuery

__all__ = ["SQLVectorStore"]

_files = schema.vector_store_files
_chunks = schema.chunks
_batches = schema.file_batches
_CHUNK_COLUMNS = (
    _chunks.c.vector_store_id,
    _chunks.c.file_id,
    _chunks.c.chunk_index,
    _chunks.c.text,
    _chunks.c.token_count,
    _chunks.c.vector,
    _chunks.c.embedding_model,
)


def _file_key(vector_store_id: str, file_id: str) -> Any:
    return (_files.c.vector_store_id == vector_store_id) & (_files.c.id == file_id)


def _chunk_row(chunk: StoredChunk) -> dict[str, Any]:
    return {
        "vector_store_id": chunk.vector_store_id,
        "file_id": chunk.file_id,
        "chunk_index": chunk.index,
        "text": chunk.text,
        "token_count": chunk.token_count,
        "vector": chunk.vector,
        "embedding_model": chunk.model,
    }


class SQLVectorStore(SQLBase):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._vector_stores = Statements(schema.vector_stores, database.computes_seq)
        self._insert_file = insert(_files)
        if database.computes_seq:
            self._insert_file = self._insert_file.values(seq=next_seq())
        c = _files.c
        claimable = (c.status == "in_progress", c.lease_until <= bindparam("p_now", type_=Double))
        self._claimable = select(c.id).where(*claimable).order_by(c.seq).limit(1)

    def _file_row(self, file: VectorStoreFile, batch_id: str | None) -> dict[str, Any]:
        row = object_row(file, file.id, file.created_at)
        return row | {
            "vector_store_id": file.vector_store_id,
            "status": file.status,
            "usage_bytes": file.usage_bytes,
            "batch_id": batch_id,
        }

    async def insert_vector_store(
        self, store: VectorStore, files: Sequence[VectorStoreFile] = ()
    ) -> None:
        def work(conn: Connection) -> None:
            conn.execute(self._vector_stores.insert, object_row(store, store.id, store.created_at))
            if files:
                conn.execute(self._insert_file, [self._file_row(f, None) for f in files])

        await self._db.write(work, bulk=bool(files))

    async def get_vector_store(self, vector_store_id: str) -> VectorStore | None:
        return await self._get(VectorStore, self._vector_stores.get, p_id=vector_store_id)

    async def replace_vector_store(self, store: VectorStore) -> bool:
        return await self._change(
            self._vector_stores.replace,
            p_id=store.id,
            p_created_at=store.created_at,
            p_data=store.model_dump_json(),
        )

    async def delete_vector_store(self, vector_store_id: str) -> bool:
        return await self._change(self._vector_stores.delete, bulk=True, p_id=vector_store_id)

    async def list_vector_stores(self, query: ListQuery) -> Page[VectorStore]:
        return await self._list(VectorStore, schema.vector_stores, query)

    async def vector_store_stats(
        self, vector_store_id: str, batch_id: str | None = None
    ) -> FileStats:
        c = _files.c
        statement = (
            select(c.status, func.count(), func.coalesce(func.sum(c.usage_bytes), 0))
            .where(equals(c.vector_store_id, vector_store_id))
            .group_by(c.status)
        )
        if batch_id is not None:
            statement = statement.where(equals(c.batch_id, batch_id))
        rows = await self._db.read(lambda conn: conn.execute(statement).all())
        return FileStats({s: int(n) for s, n, _ in rows}, sum(int(b) for _, _, b in rows))

    async def insert_vector_store_files(
        self, files: Sequence[VectorStoreFile], batch: FileBatch | None = None
    ) -> bool:
        ids = {f.vector_store_id for f in files} | ({batch.vector_store_id} if batch else set())
        rows = [self._file_row(f, batch.id if batch else None) for f in files]

        def work(conn: Connection) -> bool:
            found = conn.execute(
                select(func.count()).where(schema.vector_stores.c.id.in_(ids))
            ).scalar_one()
            if found != len(ids):
                return False
            for file in files:  # a file added again starts over
                conn.execute(delete(_files).where(_file_key(file.vector_store_id, file.id)))
            if batch is not None:
                row = object_row(batch, batch.id, batch.created_at)
                conn.execute(insert(_batches), row | {"vector_store_id": batch.vector_store_id})
            if rows:
                conn.execute(self._insert_file, rows)
            return True

        return await self._db.write(work, bulk=True)

    async def get_vector_store_file(
        self, vector_store_id: str, file_id: str
    ) -> VectorStoreFile | None:
        statement = select(_files.c.data).where(
            equals(_files.c.vector_store_id, vector_store_id), equals(_files.c.id, file_id)
        )
        data = await self._db.read(lambda conn: conn.execute(statement).scalar_one_or_none())
        return None if data is None else VectorStoreFile.model_validate_json(data)

    async def list_vector_store_files(
        self,
        vector_store_id: str,
        query: ListQuery,
        status: str | None = None,
        batch_id: str | None = None,
    ) -> Page[VectorStoreFile]:
        equal = {"vector_store_id": vector_store_id}
        if status is not None:
            equal["status"] = status
        if batch_id is not None:
            equal["batch_id"] = batch_id
        scope = Scope(equal, ("vector_store_id",))
        return await self._list(VectorStoreFile, _files, query, scope)

    async def delete_vector_store_file(self, vector_store_id: str, file_id: str) -> bool:
        statement = delete(_files).where(
            equals(_files.c.vector_store_id, vector_store_id), equals(_files.c.id, file_id)
        )
        return await self._db.write_one(lambda conn: conn.execute(statement).rowcount > 0)

    async def get_file_batch(self, vector_store_id: str, batch_id: str) -> FileBatch | None:
        statement = select(_batches.c.data).where(
            equals(_batches.c.vector_store_id, vector_store_id), equals(_batches.c.id, batch_id)
        )
        data = await self._db.read(lambda conn: conn.execute(statement).scalar_one_or_none())
        return None if data is None else FileBatch.model_validate_json(data)

    async def cancel_file_batch(self, vector_store_id: str, batch_id: str) -> FileBatch | None:
        batch = await self.get_file_batch(vector_store_id, batch_id)
        if batch is None:
            return None
        cancelled = batch.model_copy(update={"status": "cancelled"})

        def work(conn: Connection) -> None:
            conn.execute(
                update(_batches)
                .where(_batches.c.vector_store_id == vector_store_id, _batches.c.id == batch_id)
                .values(data=cancelled.model_dump_json())
            )
            c = _files.c
            open_files = select(c.data).where(
                c.vector_store_id == vector_store_id,
                c.batch_id == batch_id,
                c.status == "in_progress",
            )
            for data in conn.execute(open_files).scalars().all():
                file = VectorStoreFile.model_validate_json(data)
                file = file.model_copy(update={"status": "cancelled"})
                conn.execute(
                    update(_files)
                    .where(_file_key(vector_store_id, file.id))
                    .values(data=file.model_dump_json(), status="cancelled", lease_owner=None)
                )

        await self._db.write(work, bulk=True)
        return cancelled

    async def claim_vector_store_file(
        self, owner: str, now: float, lease_seconds: float
    ) -> FileClaim | None:
        # Mostly there is none, and the ingester asks twice a second: looked for first
        # without taking the write lock.
        params = {"p_now": now}
        if not await self._db.lookup(lambda conn: sql_exec.rows(conn, self._claimable, params)):
            return None
        c = _files.c
        candidate = (
            select(c.vector_store_id, c.id)
            .where(c.status == "in_progress", c.lease_until <= now)
            .order_by(c.seq)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

        def work(conn: Connection) -> FileClaim | None:
            found = conn.execute(candidate).first()
            if found is None:
                return None
            claimed = conn.execute(
                update(_files)
                .where(_file_key(found[0], found[1]))
                .values(lease_owner=owner, lease_until=now + lease_seconds, attempts=c.attempts + 1)
                .returning(c.data, c.attempts)
            ).one()
            return FileClaim(VectorStoreFile.model_validate_json(claimed[0]), claimed[1])

        return await self._db.write(work)

    async def finish_vector_store_file(
        self, file: VectorStoreFile, chunks: Sequence[StoredChunk], owner: str
    ) -> bool:
        c = _files.c
        key = _file_key(file.vector_store_id, file.id)
        held = (key, c.lease_owner == owner, c.status == "in_progress")
        current = select(c.data).where(*held).with_for_update()

        def work(conn: Connection) -> bool:
            data = conn.execute(current).scalar_one_or_none()
            if data is None:
                return False
            # Attributes may have been updated while the file was ingested.
            attributes = VectorStoreFile.model_validate_json(data).attributes
            done = file.model_copy(update={"attributes": attributes})
            values: dict[str, Any] = {"data": done.model_dump_json(), "status": file.status}
            values |= {"usage_bytes": file.usage_bytes, "lease_owner": None, "lease_until": 0}
            conn.execute(update(_files).where(*held).values(**values))
            if chunks:
                conn.execute(insert(_chunks), [_chunk_row(chunk) for chunk in chunks])
                self._db.vectors.add(conn, file.vector_store_id, file.id)
            return True

        return await self._db.write(work, bulk=True)

    async def renew_vector_store_file_lease(
        self, vector_store_id: str, file_id: str, owner: str, now: float, lease_seconds: float
    ) -> bool:
        c = _files.c
        statement = (
            update(_files)
            .where(_file_key(vector_store_id, file_id))
            .where(c.lease_owner == owner, c.status == "in_progress")
            .values(lease_until=now + lease_seconds)
        )
        if not storable(vector_store_id, file_id):
            return False
        return await self._db.write_one(lambda conn: conn.execute(statement).rowcount > 0)

    async def update_vector_store_file_attributes(
        self, vector_store_id: str, file_id: str, attributes: Attributes
    ) -> VectorStoreFile | None:
        key = _file_key(vector_store_id, file_id)
        current = select(_files.c.data).where(key).with_for_update()

        def work(conn: Connection) -> VectorStoreFile | None:
            data = conn.execute(current).scalar_one_or_none()
            if data is None:
                return None
            file = VectorStoreFile.model_validate_json(data)
            file = file.model_copy(update={"attributes": attributes})
            conn.execute(update(_files).where(key).values(data=file.model_dump_json()))
            return file

        return await self._db.write(work)

    async def vector_store_file_chunks(
        self, vector_store_id: str, file_id: str
    ) -> list[StoredChunk]:
        k = _chunks.c
        statement = (
            select(*_CHUNK_COLUMNS)
            .where(equals(k.vector_store_id, vector_store_id), equals(k.file_id, file_id))
            .order_by(k.chunk_index)
        )
        rows = await self._db.read(lambda conn: conn.execute(statement).all())
        return [StoredChunk(*row) for row in rows]

    async def searchable_files(
        self, vector_store_ids: Sequence[str]
    ) -> list[tuple[VectorStoreFile, FileObject]]:
        files = schema.files
        statement = (
            select(_files.c.data, files.c.data)
            .join(files, files.c.id == _files.c.id)
            .where(_files.c.vector_store_id.in_(bindparam("ids", expanding=True)))
            .where(_files.c.status == "completed")
        )
        ids = [i for i in vector_store_ids if storable(i)]
        if not ids:
            return []
        rows = await self._db.read(lambda conn: conn.execute(statement, {"ids": ids}).all())
        return [
            (VectorStoreFile.model_validate_json(entry), FileObject.model_validate_json(file))
            for entry, file in rows
        ]

    async def vector_store_chunks(
        self, vector_store_ids: Sequence[str], *, vectors: bool = True
    ) -> list[StoredChunk]:
        k = _chunks.c
        columns: list[Any] = list(_CHUNK_COLUMNS)
        if not vectors:
            columns[5] = literal(b"", LargeBinary).label("vector")
        statement = (
            select(*columns)
            .join(
                _files, (_files.c.vector_store_id == k.vector_store_id) & (_files.c.id == k.file_id)
            )
            .where(k.vector_store_id.in_(bindparam("ids", expanding=True)))
            .where(_files.c.status == "completed")
            .order_by(_files.c.seq, k.chunk_index)
        )
        rows = await self._db.read(
            lambda conn: conn.execute(statement, {"ids": list(vector_store_ids)}).all()
        )
        return [StoredChunk(*row) for row in rows]

    @property
    def vector_index(self) -> str:
        return self._db.vectors.name

    async def nearest_chunks(
        self,
        vector_store_ids: Sequence[str],
        model: str,
        vector: bytes,
        limit: int,
        file_ids: Sequence[str] | None = None,
    ) -> list[NearChunk]:
        ids = [i for i in vector_store_ids if storable(i)]
        if file_ids is not None:
            file_ids = [i for i in file_ids if storable(i)]
        if not ids or file_ids == [] or limit <= 0 or not vector:
            return []
        query = NearQuery(ids, model, vector, limit, file_ids)
        index = self._db.vectors
        return await self._db.read(lambda conn: index.nearest(conn, query))
