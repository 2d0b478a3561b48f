"""The file service over the in-memory store and blob store: what is stored when."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from threadline.blobs import MemoryBlobStore
from threadline.errors import InvalidRequestError
from threadline.protocol.common import ListQuery
from threadline.protocol.files import CreateFileRequest
from threadline.services.file_types import extension, media_type
from threadline.services.files import FileService, file_too_large
from threadline.store.memory import MemoryStore


class Chunks:
    """An upload's bytes that remember how far they were read."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts
        self.read = 0

    async def __call__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.read += 1
            yield part


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def files(store: MemoryStore, blobs: MemoryBlobStore) -> FileService:
    return FileService(store, blobs, max_bytes=10)


async def test_a_type_the_known_purpose_refuses_is_not_read(
    files: FileService, blobs: MemoryBlobStore
) -> None:
    chunks = Chunks(b"abc")
    with pytest.raises(InvalidRequestError, match="Invalid extension md for purpose 'vision'"):
        await files.receive("notes.md", chunks(), purpose="vision")
    assert (chunks.read, blobs.blobs) == (0, {})


async def test_an_unknown_purpose_leaves_the_check_for_later(files: FileService) -> None:
    upload = await files.receive("notes.md", Chunks(b"abc")(), purpose="nope")
    assert upload.bytes == 3


async def test_reading_stops_at_the_limit(files: FileService, blobs: MemoryBlobStore) -> None:
    chunks = Chunks(b"12345", b"678901", b"never read")
    with pytest.raises(InvalidRequestError, match="at most 10 bytes"):
        await files.receive("a.bin", chunks(), purpose="user_data")
    assert (chunks.read, blobs.blobs) == (2, {})


async def test_metadata_is_written_after_the_bytes(
    files: FileService, store: MemoryStore, blobs: MemoryBlobStore
) -> None:
    upload = await files.receive("a.txt", Chunks(b"hi")())
    assert list(blobs.blobs) == [upload.file_id]
    assert (await store.list_files(None, ListQuery())).data == []
    created = await files.create(upload, CreateFileRequest(purpose="assistants"))
    assert await store.get_file(upload.file_id) == created


async def test_a_refused_upload_is_discarded(files: FileService, blobs: MemoryBlobStore) -> None:
    upload = await files.receive("a.exe", Chunks(b"MZ")())
    with pytest.raises(InvalidRequestError, match="Invalid extension exe"):
        await files.create(upload, CreateFileRequest(purpose="assistants"))
    assert blobs.blobs == {}


@pytest.mark.parametrize(
    ("limit", "shown"),
    [
        (512 * 1024 * 1024, "512 MiB (536870912 bytes)"),
        (2 * 1024 * 1024 * 1024, "2 GiB (2147483648 bytes)"),
        (1000, "1000 bytes"),
    ],
)
def test_the_limit_is_shown_readably(limit: int, shown: str) -> None:
    assert file_too_large(limit).message == f"File is too large: files may be at most {shown} here."


@pytest.mark.parametrize(
    ("filename", "found"),
    [("a.TXT", "txt"), ("archive.tar.gz", "gz"), (".bashrc", ""), ("README", ""), ("a.", "")],
)
def test_extension(filename: str, found: str) -> None:
    assert extension(filename) == found


def test_media_types_do_not_depend_on_the_host() -> None:
    assert media_type("x.ts") == "application/typescript"
    assert media_type("x.md") == "text/markdown"
    assert media_type("x.unknown-type") == "application/octet-stream"
