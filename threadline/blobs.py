"""Blob storage: the bytes of uploaded files, by key, beside the store's metadata.

`FileBlobStore` keeps each blob as one file in a directory (on several machines that
directory must be shared storage). A blob appears under its key whole or not at all: it
is written to a temporary file, flushed to disk, then renamed. File IO runs on threads,
never on the event loop. `MemoryBlobStore` is the fake for tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["BlobNotFoundError", "BlobStore", "FileBlobStore", "MemoryBlobStore"]

CHUNK_BYTES = 1024 * 1024
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_TEMP_PREFIX = ".upload-"


class BlobNotFoundError(LookupError):
    """No blob has this key."""


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the bytes `chunks` yields under `key` and return how many there were.
        When `chunks` raises, nothing is stored and the error propagates."""
        ...

    async def read(self, key: str) -> bytes:
        """The whole blob; BlobNotFoundError when there is none."""
        ...

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The blob in chunks, for streaming it out. BlobNotFoundError (raised here, before
        any chunk) when there is none; once opened, a deletion does not cut it short."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the blob; False when there was none."""
        ...


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


class FileBlobStore:
    """One file per blob in `root` (created on the first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self._path(key)
        handle, temp = await asyncio.to_thread(self._temp_file)
        try:
            size = await _write_all(handle, chunks)
            await asyncio.to_thread(_finish, handle, temp, path)
        except BaseException:
            await asyncio.to_thread(_discard, handle, temp)
            raise
        return size

    def _temp_file(self) -> tuple[BinaryIO, Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=_TEMP_PREFIX)
        return os.fdopen(fd, "wb"), Path(name)

    async def read(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise BlobNotFoundError(key) from None

    async def open(self, key: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self._path(key).open, "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(key) from None
        return _read_chunks(handle)

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True


async def _write_all(handle: BinaryIO, chunks: AsyncIterable[bytes]) -> int:
    """Write `chunks`, gathered into writes of about CHUNK_BYTES (one thread hop each)."""
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0
    async for chunk in chunks:
        size += len(chunk)
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= CHUNK_BYTES:
            await asyncio.to_thread(handle.writelines, pending)
            pending, pending_bytes = [], 0
    if pending:
        await asyncio.to_thread(handle.writelines, pending)
    return size


def _finish(handle: BinaryIO, temp: Path, path: Path) -> None:
    """Make the temporary file durable, then give it its name (atomically)."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    temp.replace(path)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # So that the rename itself survives a power loss (not possible on every platform).
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(handle: BinaryIO, temp: Path) -> None:
    handle.close()
    temp.unlink(missing_ok=True)


async def _read_chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


class MemoryBlobStore:
    """Blobs in a dict; `put` stores a blob only once `chunks` is exhausted."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        data = b"".join([chunk async for chunk in chunks])
        self.blobs[_checked(key)] = data
        return len(data)

    async def read(self, key: str) -> bytes:
        try:
            return self.blobs[key]
        except KeyError:
            raise BlobNotFoundError(key) from None

    async def open(self, key: str) -> AsyncIterator[bytes]:
        return _memory_chunks(await self.read(key))

    async def delete(self, key: str) -> bool:
        return self.blobs.pop(key, None) is not None


async def _memory_chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]
