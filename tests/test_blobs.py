"""Blob stores: the file system one and the in-memory fake keep the same contract, and a
failed write leaves nothing behind under the blob's name."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from threadline.blobs import (
    CHUNK_BYTES,
    BlobNotFoundError,
    BlobStore,
    FileBlobStore,
    MemoryBlobStore,
)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise RuntimeError("upload broke off")


@pytest.fixture(params=["files", "memory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "files":
        return FileBlobStore(tmp_path / "data" / "files")
    return MemoryBlobStore()


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_put_then_read_and_open(blobs: BlobStore) -> None:
    big = os.urandom(CHUNK_BYTES * 2 + 17)
    assert await blobs.put("file-a", chunks(b"hello ", b"", b"world")) == 11
    assert await blobs.put("file-b", chunks(big[:1000], big[1000:])) == len(big)
    assert await blobs.read("file-a") == b"hello world"
    assert await collect(await blobs.open("file-b")) == big


async def test_empty_blob(blobs: BlobStore) -> None:
    assert await blobs.put("file-empty", chunks()) == 0
    assert await blobs.read("file-empty") == b""
    assert await collect(await blobs.open("file-empty")) == b""


async def test_put_replaces(blobs: BlobStore) -> None:
    await blobs.put("file-a", chunks(b"one"))
    await blobs.put("file-a", chunks(b"two"))
    assert await blobs.read("file-a") == b"two"


async def test_missing_blob(blobs: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        await blobs.read("file-nope")
    with pytest.raises(BlobNotFoundError):
        await blobs.open("file-nope")
    assert not await blobs.delete("file-nope")


async def test_delete(blobs: BlobStore) -> None:
    await blobs.put("file-a", chunks(b"x"))
    assert await blobs.delete("file-a")
    with pytest.raises(BlobNotFoundError):
        await blobs.read("file-a")


async def test_a_failed_put_stores_nothing(blobs: BlobStore) -> None:
    with pytest.raises(RuntimeError, match="broke off"):
        await blobs.put("file-a", failing([b"partial", os.urandom(CHUNK_BYTES)]))
    with pytest.raises(BlobNotFoundError):
        await blobs.read("file-a")


async def test_a_failed_put_keeps_the_earlier_blob(blobs: BlobStore) -> None:
    await blobs.put("file-a", chunks(b"kept"))
    with pytest.raises(RuntimeError):
        await blobs.put("file-a", failing([b"new"]))
    assert await blobs.read("file-a") == b"kept"


@pytest.mark.parametrize("key", ["", "../etc/passwd", "a/b", ".hidden", "x\x00"])
async def test_keys_that_are_not_plain_names_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        await blobs.put(key, chunks(b"x"))


async def test_an_open_blob_outlives_its_deletion(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    await blobs.put("file-a", chunks(b"still here"))
    stream = await blobs.open("file-a")
    assert await blobs.delete("file-a")
    assert await collect(stream) == b"still here"


async def test_files_live_under_their_key_and_leave_no_temporary_files(tmp_path: Path) -> None:
    root = tmp_path / "files"
    blobs = FileBlobStore(root)
    assert not root.exists()  # created on the first write, not before
    await blobs.put("file-a", chunks(b"abc"))
    with pytest.raises(RuntimeError):
        await blobs.put("file-b", failing([b"abc"]))
    assert sorted(p.name for p in root.iterdir()) == ["file-a"]
    assert (root / "file-a").read_bytes() == b"abc"
