"""Files: upload (bytes to the blob store first, then the metadata row), read, list,
download, delete. A file past its `expires_at` is gone for every reader."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import get_args

from threadline.blobs import BlobNotFoundError, BlobStore
from threadline.errors import InvalidRequestError, NotFoundError, ServerError
from threadline.ids import new_id, now
from threadline.protocol.common import DeletedObject, ListPage
from threadline.protocol.files import CreateFileRequest, FileListQuery, FileObject, UploadPurpose
from threadline.services.file_types import check_type
from threadline.services.resources import list_page
from threadline.store.base import Store

__all__ = ["FileService", "Upload", "file_not_found", "file_too_large"]

logger = logging.getLogger("threadline.files")

_UPLOAD_PURPOSES = frozenset(get_args(UploadPurpose))


@dataclass(frozen=True)
class Upload:
    """An upload's bytes, stored under the id its file will have, not yet a file."""

    file_id: str
    filename: str
    bytes: int


def file_not_found(file_id: str) -> NotFoundError:
    return NotFoundError(f"No such File object: {file_id}", param="id")


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


def file_too_large(limit: int) -> InvalidRequestError:
    shown = _size(limit)
    if not shown.endswith(" bytes"):
        shown += f" ({limit} bytes)"
    return InvalidRequestError(
        f"File is too large: files may be at most {shown} here.", param="file"
    )


def _expired(file: FileObject, at: int) -> bool:
    return file.expires_at is not None and file.expires_at <= at


class FileService:
    def __init__(self, store: Store, blobs: BlobStore, max_bytes: int) -> None:
        self.store = store
        self.blobs = blobs
        self.max_bytes = max_bytes

    async def receive(
        self, filename: str, chunks: AsyncIterator[bytes], purpose: str | None = None
    ) -> Upload:
        """Store an upload's bytes as they arrive, refusing them once past the size limit.
        With its purpose already known, a type the purpose does not take is refused first."""
        if purpose is not None and purpose in _UPLOAD_PURPOSES:
            check_type(filename, purpose)
        file_id = new_id("file", "-")
        size = await self.blobs.put(file_id, self._limited(chunks))
        return Upload(file_id, filename, size)

    async def _limited(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in chunks:
            total += len(chunk)
            if total > self.max_bytes:
                raise file_too_large(self.max_bytes)
            yield chunk

    async def create(self, upload: Upload, request: CreateFileRequest) -> FileObject:
        """The file an upload becomes; a refused upload's bytes are discarded."""
        try:
            check_type(upload.filename, request.purpose)
            if upload.bytes == 0:
                raise InvalidRequestError("File is empty.", param="file")
            created_at = now()
            expires = request.expires_after
            file = FileObject(
                id=upload.file_id,
                bytes=upload.bytes,
                created_at=created_at,
                expires_at=created_at + expires.seconds if expires else None,
                filename=upload.filename,
                purpose=request.purpose,
            )
            await self.store.insert_file(file)
        except BaseException:
            await self.discard(upload)
            raise
        return file

    async def discard(self, upload: Upload) -> None:
        await self.blobs.delete(upload.file_id)

    async def get(self, file_id: str) -> FileObject:
        file = await self.store.get_file(file_id)
        if file is None or _expired(file, now()):
            raise file_not_found(file_id)
        return file

    async def list(self, query: FileListQuery) -> ListPage[FileObject]:
        return list_page(await self.store.list_files(query.purpose, query, now()))

    async def delete(self, file_id: str) -> DeletedObject:
        """Remove the row, then the bytes. An expired file is removed too, but answers
        404 like every other read of it."""
        file = await self.store.get_file(file_id)
        if file is None or not await self.store.delete_file(file_id):
            raise file_not_found(file_id)
        await self.blobs.delete(file_id)
        if _expired(file, now()):
            raise file_not_found(file_id)
        return DeletedObject(id=file_id, object="file")

    async def content(self, file_id: str) -> tuple[FileObject, AsyncIterator[bytes]]:
        """The file and its bytes, in chunks."""
        file = await self.get(file_id)
        try:
            return file, await self.blobs.open(file_id)
        except BlobNotFoundError:
            if await self.store.get_file(file_id) is None:  # deleted meanwhile
                raise file_not_found(file_id) from None
        # Metadata without bytes: this process does not see the data directory the
        # upload went to (several machines need it on shared storage).
        logger.error("file %s has no content in this process's data directory", file_id)
        raise ServerError(f"The content of file {file_id} is missing on this server.")
