"""Vector stores over the in-memory store with a bag-of-words embedder: statuses, counts,
failed files, lease recovery, deleted Files and search."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator

import numpy as np
import pytest

from threadline.blobs import MemoryBlobStore
from threadline.errors import InvalidRequestError, NotFoundError
from threadline.protocol.files import FileObject
from threadline.protocol.vector_stores import (
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    RankingOptions,
    SearchRequest,
)
from threadline.retrieval.embeddings import Vectors, l2_normalise
from threadline.retrieval.ingestion import Ingester, IngestionConfig, IngestionWorker
from threadline.services.search import SearchService
from threadline.services.vector_stores import VectorStoreService
from threadline.store.memory import MemoryStore

DIMENSIONS = 64


class BagOfWords:
    """Deterministic vectors: each word adds one to a hashed dimension."""

    dimensions = DIMENSIONS

    async def embed(self, texts: list[str]) -> Vectors:
        rows = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, zlib.crc32(word.encode()) % DIMENSIONS] += 1
        return l2_normalise(rows)


class Setup:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.blobs = MemoryBlobStore()
        self.service = VectorStoreService(self.store)
        self.search = SearchService(self.store, BagOfWords(), self.service)
        self.worker = IngestionWorker(
            Ingester(self.store, self.blobs, BagOfWords(), "me"), IngestionConfig()
        )

    async def upload(self, filename: str, data: bytes) -> str:
        file_id = f"file-{zlib.crc32(filename.encode())}"

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await self.blobs.put(file_id, chunks())
        file = FileObject(
            id=file_id, bytes=len(data), created_at=1, filename=filename, purpose="assistants"
        )
        await self.store.insert_file(file)
        return file_id

    async def drain(self) -> None:
        while await self.worker.run_once():
            pass


@pytest.fixture
def setup() -> Setup:
    return Setup()


async def test_files_are_ingested_and_a_bad_one_fails_alone(setup: Setup) -> None:
    good = await setup.upload("cats.txt", b"Cats purr when they are content.")
    bad = await setup.upload("tool.exe", b"MZ\x00\x01")
    broken = await setup.upload("doc.pdf", b"%PDF-1.4 not really")
    request = CreateVectorStoreRequest(name="pets", file_ids=[good, bad, broken])
    created = await setup.service.create(request)
    assert created.status == "in_progress"
    assert created.file_counts.in_progress == 3
    await setup.drain()
    done = await setup.service.get(created.id)
    assert done.status == "completed"
    assert (done.file_counts.completed, done.file_counts.failed, done.file_counts.total) == (
        1,
        2,
        3,
    )
    assert done.usage_bytes > 0
    failed = await setup.service.get_file(created.id, bad)
    assert failed.last_error is not None
    assert failed.last_error.code == "unsupported_file"
    corrupt = await setup.service.get_file(created.id, broken)
    assert corrupt.last_error is not None
    assert corrupt.last_error.code == "invalid_file"


async def test_search_finds_the_passage_and_skips_deleted_files(setup: Setup) -> None:
    cats = await setup.upload("cats.txt", b"Cats purr when they are content.")
    dogs = await setup.upload("dogs.txt", b"Dogs bark at the mail carrier.")
    vs = await setup.service.create(CreateVectorStoreRequest(file_ids=[cats, dogs]))
    await setup.drain()
    hits = await setup.search.search([vs.id], "why do dogs bark", 10, 0.0)
    assert hits[0].file_id == dogs
    assert hits[0].filename == "dogs.txt"
    assert 0 < hits[0].score <= 1
    page = await setup.search.search_page(vs.id, SearchRequest(query="cats purr"))
    assert page.data[0].content[0].text == "Cats purr when they are content."
    await setup.store.delete_file(cats)
    hits = await setup.search.search([vs.id], "cats purr", 10, 0.0)
    assert cats not in {hit.file_id for hit in hits}
    assert (await setup.service.get_file(vs.id, cats)).status == "completed"


async def test_search_ranker_none_ranks_by_vectors_alone_and_pages_say_more(
    setup: Setup,
) -> None:
    texts = [b"Cats purr when they are content.", b"Dogs bark.", b"Cats and dogs play."]
    ids = [await setup.upload(f"pet{i}.txt", text) for i, text in enumerate(texts)]
    vs = await setup.service.create(CreateVectorStoreRequest(file_ids=ids))
    await setup.drain()
    query = "cats purr"
    hybrid = await setup.search.search_page(vs.id, SearchRequest(query=query))
    assert hybrid.data[0].file_id == ids[0]
    assert hybrid.data[0].score == 1.0  # first by both halves
    assert (hybrid.has_more, hybrid.next_page) == (False, None)
    ranking = RankingOptions(ranker="none")
    request = SearchRequest(query=query, ranking_options=ranking, rewrite_query=True)
    vectors = await setup.search.search_page(vs.id, request)
    [query_vector, first] = await BagOfWords().embed([query, texts[0].decode()])
    assert vectors.data[0].file_id == ids[0]
    assert vectors.data[0].score == pytest.approx(float(query_vector @ first), abs=1e-6)
    assert vectors.search_query == [query]  # rewrite_query: searched as given
    cut = await setup.search.search_page(vs.id, SearchRequest(query=query, max_num_results=1))
    assert (len(cut.data), cut.has_more, cut.next_page) == (1, True, None)


async def test_a_lapsed_lease_is_taken_again(setup: Setup) -> None:
    file_id = await setup.upload("notes.md", b"# Notes\n\nLeases lapse.")
    vs = await setup.service.create(CreateVectorStoreRequest())
    await setup.service.add_file(vs.id, CreateVectorStoreFileRequest(file_id=file_id))
    dead = await setup.store.claim_vector_store_file("dead", 0.0, 1.0)  # then it died
    assert dead is not None
    await setup.drain()
    assert (await setup.service.get_file(vs.id, file_id)).status == "completed"


async def test_batches_count_and_cancel(setup: Setup) -> None:
    ids = [await setup.upload(f"n{i}.txt", b"note %d" % i) for i in range(2)]
    vs = await setup.service.create(CreateVectorStoreRequest())
    batch = await setup.service.create_batch(vs.id, CreateFileBatchRequest(file_ids=ids))
    assert (batch.status, batch.file_counts.total) == ("in_progress", 2)
    cancelled = await setup.service.cancel_batch(vs.id, batch.id)
    assert (cancelled.status, cancelled.file_counts.cancelled) == ("cancelled", 2)
    assert not await setup.worker.run_once()


class SlowWords(BagOfWords):
    """BagOfWords taking `delay` seconds per call, counting its calls."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.started = asyncio.Event()

    async def embed(self, texts: list[str]) -> Vectors:
        self.calls += 1
        self.started.set()
        await asyncio.sleep(self.delay)
        return await super().embed(texts)


SMALL_CHUNKS = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
}
# About 200 chunks of 100 tokens: seven embedding slices.
LONG_TEXT = " ".join(f"word{i % 50}" for i in range(10000)).encode()


def slow_worker(
    setup: Setup, delay: float, lease_seconds: float
) -> tuple[IngestionWorker, SlowWords]:
    embedder = SlowWords(delay)
    ingester = Ingester(setup.store, setup.blobs, embedder, "slow")
    return IngestionWorker(ingester, IngestionConfig(lease_seconds=lease_seconds)), embedder


async def test_a_long_file_keeps_its_lease_while_it_is_ingested(setup: Setup) -> None:
    file_id = await setup.upload("long.txt", LONG_TEXT)
    vs = await setup.service.create(CreateVectorStoreRequest())
    request = CreateVectorStoreFileRequest(file_id=file_id, chunking_strategy=SMALL_CHUNKS)
    await setup.service.add_file(vs.id, request)
    worker, embedder = slow_worker(setup, delay=0.5, lease_seconds=1.5)  # 7 slices: 3.5 s
    ingesting = asyncio.create_task(worker.run_once())
    for _ in range(5):  # well past the lease: the heartbeat (every 0.5 s) keeps renewing it
        await asyncio.sleep(0.5)
        assert await setup.store.claim_vector_store_file("other", time.time(), 1.5) is None
    assert await ingesting
    assert embedder.calls == 7
    assert (await setup.service.get_file(vs.id, file_id)).status == "completed"


async def test_cancelling_a_batch_stops_its_file_being_ingested(setup: Setup) -> None:
    long_id = await setup.upload("long.txt", LONG_TEXT)
    queued = await setup.upload("queued.txt", b"queued note")
    vs = await setup.service.create(CreateVectorStoreRequest())
    request = CreateFileBatchRequest(file_ids=[long_id, queued], chunking_strategy=SMALL_CHUNKS)
    batch = await setup.service.create_batch(vs.id, request)
    worker, embedder = slow_worker(setup, delay=0.3, lease_seconds=0.9)
    ingesting = asyncio.create_task(worker.run_once())
    await embedder.started.wait()
    cancelled = await setup.service.cancel_batch(vs.id, batch.id)
    assert await ingesting  # it returns once the heartbeat sees the file cancelled
    assert embedder.calls <= 3  # the file's remaining slices were never embedded
    assert (await setup.service.get_file(vs.id, long_id)).status == "cancelled"
    assert await setup.store.vector_store_file_chunks(vs.id, long_id) == []
    counts = (await setup.service.get_batch(vs.id, batch.id)).file_counts
    assert (counts.cancelled, counts.in_progress, counts.completed) == (2, 0, 0)
    assert cancelled.status == "cancelled"
    assert not await worker.run_once()  # nothing left to ingest


async def test_a_file_removed_while_ingested_is_dropped(setup: Setup) -> None:
    file_id = await setup.upload("long.txt", LONG_TEXT)
    vs = await setup.service.create(CreateVectorStoreRequest())
    request = CreateVectorStoreFileRequest(file_id=file_id, chunking_strategy=SMALL_CHUNKS)
    await setup.service.add_file(vs.id, request)
    worker, embedder = slow_worker(setup, delay=0.3, lease_seconds=0.9)
    ingesting = asyncio.create_task(worker.run_once())
    await embedder.started.wait()
    await setup.service.delete_file(vs.id, file_id)
    assert await ingesting
    assert embedder.calls <= 3
    assert await setup.store.vector_store_file_chunks(vs.id, file_id) == []


async def test_errors_name_the_param(setup: Setup) -> None:
    vs = await setup.service.create(CreateVectorStoreRequest())
    with pytest.raises(NotFoundError, match="No file found with id 'file-x'"):
        await setup.service.add_file(vs.id, CreateVectorStoreFileRequest(file_id="file-x"))
    with pytest.raises(NotFoundError):
        await setup.service.get("vs_missing")
    strategy = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
    }
    with pytest.raises(InvalidRequestError) as info:
        await setup.service.create(CreateVectorStoreRequest(chunking_strategy=strategy))
    assert info.value.param == "chunking_strategy.static.max_chunk_size_tokens"
