"""Vector stores and their files and file batches: create, read, modify, delete, list.
Adding a file stores it `in_progress`; the ingestion worker does the rest. A vector store's
and a batch's `file_counts`, `usage_bytes` and `status` are counted from their files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from threadline.errors import InvalidRequestError, NotFoundError
from threadline.ids import new_id, now
from threadline.protocol.common import DeletedObject, ListPage, ListQuery
from threadline.protocol.vector_stores import (
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    FileBatch,
    FileContent,
    FileContentPage,
    FileCounts,
    ModifyVectorStoreRequest,
    UpdateVectorStoreFileRequest,
    VectorStore,
    VectorStoreExpiresAfter,
    VectorStoreFile,
    VectorStoreFileListQuery,
)
from threadline.retrieval.chunking import ChunkingStrategy, ChunkingStrategyError
from threadline.services.resources import list_page
from threadline.store.base import FileStats, Store

__all__ = ["VectorStoreService", "chunking_strategy", "vector_store_not_found"]

DAY_SECONDS = 86_400


def vector_store_not_found(vector_store_id: str) -> NotFoundError:
    return NotFoundError.for_object("vector store", vector_store_id)


def chunking_strategy(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A request's `chunking_strategy` as a vector store file reports it; 400 naming the
    param when it breaks OpenAI's limits."""
    try:
        return ChunkingStrategy.from_param(value).as_param()
    except ChunkingStrategyError as exc:
        raise InvalidRequestError(str(exc), param=exc.param, code="invalid_value") from None


def _counts(stats: FileStats) -> FileCounts:
    c = stats.counts
    return FileCounts(
        in_progress=c.get("in_progress", 0),
        completed=c.get("completed", 0),
        failed=c.get("failed", 0),
        cancelled=c.get("cancelled", 0),
        total=sum(c.values()),
    )


def _expires_at(expires: VectorStoreExpiresAfter | None, anchor: int) -> int | None:
    return anchor + expires.days * DAY_SECONDS if expires is not None else None


class VectorStoreService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _with_counts(self, vector_store: VectorStore) -> VectorStore:
        stats = await self.store.vector_store_stats(vector_store.id)
        counts = _counts(stats)
        status = "in_progress" if counts.in_progress else "completed"
        if vector_store.expires_at is not None and vector_store.expires_at <= now():
            status = "expired"
        return vector_store.model_copy(
            update={"file_counts": counts, "usage_bytes": stats.usage_bytes, "status": status}
        )

    async def _files(
        self, vector_store_id: str, requests: Sequence[CreateVectorStoreFileRequest]
    ) -> list[VectorStoreFile]:
        files = []
        for request in requests:
            if await self.store.get_file(request.file_id) is None:
                raise NotFoundError(f"No file found with id '{request.file_id}'.", param="file_id")
            strategy = chunking_strategy(request.chunking_strategy)
            files.append(
                VectorStoreFile(
                    id=request.file_id,
                    created_at=now(),
                    vector_store_id=vector_store_id,
                    chunking_strategy=strategy,
                    attributes=request.attributes,
                )
            )
        return files

    async def create(self, request: CreateVectorStoreRequest) -> VectorStore:
        created_at = now()
        vector_store = VectorStore(
            id=new_id("vs"),
            created_at=created_at,
            name=request.name or "",
            expires_after=request.expires_after,
            expires_at=_expires_at(request.expires_after, created_at),
            last_active_at=created_at,
            metadata=request.metadata if request.metadata is not None else {},
        )
        chunking_strategy(request.chunking_strategy)
        asked = [
            CreateVectorStoreFileRequest(
                file_id=file_id, chunking_strategy=request.chunking_strategy
            )
            for file_id in request.file_ids or []
        ]
        files = await self._files(vector_store.id, asked)
        await self.store.insert_vector_store(vector_store, files)
        return await self._with_counts(vector_store)

    async def _get(self, vector_store_id: str) -> VectorStore:
        vector_store = await self.store.get_vector_store(vector_store_id)
        if vector_store is None:
            raise vector_store_not_found(vector_store_id)
        return vector_store

    async def get(self, vector_store_id: str) -> VectorStore:
        return await self._with_counts(await self._get(vector_store_id))

    async def list(self, query: ListQuery) -> ListPage[VectorStore]:
        page = list_page(await self.store.list_vector_stores(query))
        page.data = [await self._with_counts(vs) for vs in page.data]
        return page

    async def modify(self, vector_store_id: str, request: ModifyVectorStoreRequest) -> VectorStore:
        current = await self._get(vector_store_id)
        changes: dict[str, object] = {}
        given = request.model_fields_set
        if "name" in given:
            changes["name"] = request.name or ""
        if "metadata" in given:
            changes["metadata"] = request.metadata if request.metadata is not None else {}
        if "expires_after" in given:
            anchor = current.last_active_at or current.created_at
            changes["expires_after"] = request.expires_after
            changes["expires_at"] = _expires_at(request.expires_after, anchor)
        updated = current.model_copy(update=changes)
        if not await self.store.replace_vector_store(updated):
            raise vector_store_not_found(vector_store_id)
        return await self._with_counts(updated)

    async def touch(self, vector_store_id: str) -> VectorStore:
        """Mark the vector store active now (a search), moving its expiry along."""
        current = await self._get(vector_store_id)
        at = now()
        updated = current.model_copy(
            update={"last_active_at": at, "expires_at": _expires_at(current.expires_after, at)}
        )
        await self.store.replace_vector_store(updated)
        return updated

    async def delete(self, vector_store_id: str) -> DeletedObject:
        if not await self.store.delete_vector_store(vector_store_id):
            raise vector_store_not_found(vector_store_id)
        return DeletedObject(id=vector_store_id, object="vector_store.deleted")

    # Files
    async def add_file(
        self, vector_store_id: str, request: CreateVectorStoreFileRequest
    ) -> VectorStoreFile:
        await self._get(vector_store_id)
        files = await self._files(vector_store_id, [request])
        if not await self.store.insert_vector_store_files(files):
            raise vector_store_not_found(vector_store_id)
        return files[0]

    async def get_file(self, vector_store_id: str, file_id: str) -> VectorStoreFile:
        await self._get(vector_store_id)
        file = await self.store.get_vector_store_file(vector_store_id, file_id)
        if file is None:
            raise NotFoundError.for_object("vector store file", file_id)
        return file

    async def update_file(
        self, vector_store_id: str, file_id: str, request: UpdateVectorStoreFileRequest
    ) -> VectorStoreFile:
        """Replace a vector store file's attributes."""
        await self._get(vector_store_id)
        updated = await self.store.update_vector_store_file_attributes(
            vector_store_id, file_id, request.attributes
        )
        if updated is None:
            raise NotFoundError.for_object("vector store file", file_id)
        return updated

    async def file_content(self, vector_store_id: str, file_id: str) -> FileContentPage:
        """The file's parsed text: its chunks, in order (none before it is completed)."""
        await self.get_file(vector_store_id, file_id)
        chunks = await self.store.vector_store_file_chunks(vector_store_id, file_id)
        return FileContentPage(data=[FileContent(text=chunk.text) for chunk in chunks])

    async def list_files(
        self, vector_store_id: str, query: VectorStoreFileListQuery, batch_id: str | None = None
    ) -> ListPage[VectorStoreFile]:
        await self._get(vector_store_id)
        page = await self.store.list_vector_store_files(
            vector_store_id, query, query.filter, batch_id
        )
        return list_page(page)

    async def delete_file(self, vector_store_id: str, file_id: str) -> DeletedObject:
        await self._get(vector_store_id)
        if not await self.store.delete_vector_store_file(vector_store_id, file_id):
            raise NotFoundError.for_object("vector store file", file_id)
        return DeletedObject(id=file_id, object="vector_store.file.deleted")

    # File batches
    async def create_batch(
        self, vector_store_id: str, request: CreateFileBatchRequest
    ) -> FileBatch:
        await self._get(vector_store_id)
        if (request.file_ids is None) == (request.files is None):
            raise InvalidRequestError(
                "Exactly one of 'file_ids' and 'files' must be given.", param="file_ids"
            )
        asked = request.files or [
            CreateVectorStoreFileRequest(
                file_id=file_id,
                chunking_strategy=request.chunking_strategy,
                attributes=request.attributes,
            )
            for file_id in request.file_ids or []
        ]
        files = await self._files(vector_store_id, asked)
        batch = FileBatch(id=new_id("vsfb"), created_at=now(), vector_store_id=vector_store_id)
        if not await self.store.insert_vector_store_files(files, batch):
            raise vector_store_not_found(vector_store_id)
        return await self._batch_with_counts(batch)

    async def _batch_with_counts(self, batch: FileBatch) -> FileBatch:
        counts = _counts(await self.store.vector_store_stats(batch.vector_store_id, batch.id))
        status = batch.status
        if status != "cancelled":
            status = "in_progress" if counts.in_progress else "completed"
        return batch.model_copy(update={"file_counts": counts, "status": status})

    async def get_batch(self, vector_store_id: str, batch_id: str) -> FileBatch:
        await self._get(vector_store_id)
        batch = await self.store.get_file_batch(vector_store_id, batch_id)
        if batch is None:
            raise NotFoundError.for_object("file batch", batch_id)
        return await self._batch_with_counts(batch)

    async def cancel_batch(self, vector_store_id: str, batch_id: str) -> FileBatch:
        await self.get_batch(vector_store_id, batch_id)
        batch = await self.store.cancel_file_batch(vector_store_id, batch_id)
        if batch is None:
            raise NotFoundError.for_object("file batch", batch_id)
        return await self._batch_with_counts(batch)

    async def list_batch_files(
        self, vector_store_id: str, batch_id: str, query: VectorStoreFileListQuery
    ) -> ListPage[VectorStoreFile]:
        await self.get_batch(vector_store_id, batch_id)
        return await self.list_files(vector_store_id, query, batch_id)
