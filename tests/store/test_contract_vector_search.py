"""The store contract for the vector half of search (`nearest_chunks`), on every vector index
path: the numpy scan (memory, SQLite without sqlite-vec, PostgreSQL without pgvector),
sqlite-vec and pgvector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from threadline.protocol.vector_stores import VectorStoreFile
from threadline.store import Store, open_store
from threadline.store.base import StoredChunk

from .conftest import VECTOR_BACKENDS, vector_backend_url
from .test_contract_files import file as file_object
from .test_contract_vector_stores import vector_store, vs_file

MODEL = "test-model"
EXPECTED_INDEX = {
    "memory": {"numpy"},
    "sqlite": {"sqlite-vec"},
    "sqlite-numpy": {"numpy"},
    "postgres": {"numpy", "pgvector"},  # the machine's server may or may not have pgvector
    "pgvector": {"pgvector"},
}


@pytest.fixture(params=VECTOR_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    return vector_backend_url(backend, tmp_path, request, monkeypatch)


def unit(*values: float) -> bytes:
    vector = np.array(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def chunks_of(
    file: VectorStoreFile, vectors: Sequence[bytes], model: str = MODEL
) -> list[StoredChunk]:
    return [
        StoredChunk(file.vector_store_id, file.id, i, f"text {i}", 2, vector, model)
        for i, vector in enumerate(vectors)
    ]


async def ingest(store: Store, file: VectorStoreFile, chunks: Sequence[StoredChunk]) -> None:
    claim = await store.claim_vector_store_file("ingester", 0.0, 30.0)
    assert claim is not None
    assert claim.file.id == file.id
    done = file.model_copy(update={"status": "completed"})
    assert await store.finish_vector_store_file(done, chunks, "ingester")


def keys(found: Sequence[object]) -> list[tuple[str, int]]:
    return [(n.file_id, n.index) for n in found]  # type: ignore[attr-defined]


async def test_nearest_chunks_by_cosine_in_the_searched_stores(store: Store, backend: str) -> None:
    assert store.vector_index in EXPECTED_INDEX[backend]
    vs, other = vector_store(), vector_store()
    a, b, elsewhere = vs_file(vs.id), vs_file(vs.id), vs_file(other.id)
    await store.insert_vector_store(vs, [a, b])
    await store.insert_vector_store(other, [elsewhere])
    await ingest(store, a, chunks_of(a, [unit(1, 0, 0, 0), unit(1, 1, 0, 0), unit(0, 0, 1, 0)]))
    await ingest(store, b, chunks_of(b, [unit(1, 0.1, 0, 0), unit(-1, 0, 0, 0)]))
    await ingest(store, elsewhere, chunks_of(elsewhere, [unit(1, 0, 0, 0)]))

    query = unit(1, 0, 0, 0)
    found = await store.nearest_chunks([vs.id], MODEL, query, 3)
    assert keys(found) == [(a.id, 0), (b.id, 0), (a.id, 1)]
    assert found[0].vector_store_id == vs.id
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert found[2].similarity == pytest.approx(2**-0.5, abs=1e-5)

    every = await store.nearest_chunks([vs.id, other.id], MODEL, query, 50)
    assert len(every) == 6
    assert every[-1].similarity == pytest.approx(-1.0, abs=1e-5)
    assert {n.vector_store_id for n in every} == {vs.id, other.id}

    only_b = await store.nearest_chunks([vs.id], MODEL, query, 50, [b.id])
    assert keys(only_b) == [(b.id, 0), (b.id, 1)]
    assert await store.nearest_chunks([vs.id], MODEL, query, 50, []) == []
    assert await store.nearest_chunks([vs.id], "another-model", query, 50) == []
    assert await store.nearest_chunks(["vs_missing", "vs_\x00"], MODEL, query, 50) == []


async def test_nearest_chunks_keep_models_and_widths_apart(store: Store) -> None:
    vs = vector_store()
    narrow, wide = vs_file(vs.id), vs_file(vs.id)
    await store.insert_vector_store(vs, [narrow, wide])
    await ingest(store, narrow, chunks_of(narrow, [unit(1, 0, 0, 0)]))
    await ingest(store, wide, chunks_of(wide, [unit(1, 0, 0, 0, 0, 0, 0, 0)], "wide-model"))
    assert keys(await store.nearest_chunks([vs.id], MODEL, unit(1, 0, 0, 0), 10)) == [
        (narrow.id, 0)
    ]
    wide_query = unit(1, 1, 0, 0, 0, 0, 0, 0)
    assert keys(await store.nearest_chunks([vs.id], "wide-model", wide_query, 10)) == [(wide.id, 0)]
    assert await store.nearest_chunks([vs.id], MODEL, wide_query, 10) == []


async def test_removed_and_re_added_files_leave_the_index(store: Store) -> None:
    vs = vector_store()
    kept, removed, again = vs_file(vs.id), vs_file(vs.id), vs_file(vs.id)
    await store.insert_vector_store(vs, [kept, removed, again])
    await ingest(store, kept, chunks_of(kept, [unit(1, 1, 0, 0)]))
    await ingest(store, removed, chunks_of(removed, [unit(1, 0, 0, 0)]))
    await ingest(store, again, chunks_of(again, [unit(1, 0.2, 0, 0)]))
    assert await store.delete_vector_store_file(vs.id, removed.id)
    # Added again: it starts over, in_progress, with no chunks until ingested again.
    assert await store.insert_vector_store_files([again])
    query = unit(1, 0, 0, 0)
    assert keys(await store.nearest_chunks([vs.id], MODEL, query, 10)) == [(kept.id, 0)]
    await ingest(store, again, chunks_of(again, [unit(0, 0, 1, 0)]))
    found = await store.nearest_chunks([vs.id], MODEL, query, 10)
    assert keys(found) == [(kept.id, 0), (again.id, 0)]
    assert found[1].similarity == pytest.approx(0.0, abs=1e-5)  # its new vector
    assert await store.delete_vector_store(vs.id)
    assert await store.nearest_chunks([vs.id], MODEL, query, 10) == []


async def test_a_database_used_without_the_index_is_indexed_again(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks stored and removed by a process without sqlite-vec / pgvector are found, and
    removed ones not, once a process with it opens the database again."""
    vs = vector_store()
    first, second, third = vs_file(vs.id), vs_file(vs.id), vs_file(vs.id)
    store = await open_store(sql_url)  # with the index, where there is one
    try:
        await store.insert_vector_store(vs, [first, second, third])
        await ingest(store, first, chunks_of(first, [unit(1, 0, 0, 0)]))
    finally:
        await store.close()
    with monkeypatch.context() as without:
        without.setattr("threadline.store.sqlite.vector_driver", lambda: None)
        without.setattr("threadline.store.postgres.available", lambda conn: False)
        store = await open_store(sql_url)
        try:
            assert store.vector_index == "numpy"
            assert await store.delete_vector_store_file(vs.id, first.id)
            await ingest(store, second, chunks_of(second, [unit(1, 1, 0, 0)]))
        finally:
            await store.close()
    store = await open_store(sql_url)
    try:
        await ingest(store, third, chunks_of(third, [unit(0, 1, 0, 0)]))
        found = await store.nearest_chunks([vs.id], MODEL, unit(1, 0, 0, 0), 10)
        assert keys(found) == [(second.id, 0), (third.id, 0)]
    finally:
        await store.close()


async def test_searchable_files_are_completed_with_their_file(store: Store) -> None:
    vs, other = vector_store(), vector_store()
    done, open_file, orphan = vs_file(vs.id), vs_file(vs.id), vs_file(vs.id)
    elsewhere = vs_file(other.id)
    await store.insert_vector_store(vs, [done, orphan, open_file])
    await store.insert_vector_store(other, [elsewhere])
    for file in (done, orphan, open_file, elsewhere):
        await store.insert_file(file_object(id=file.id, filename=f"{file.id}.txt"))
    await ingest(store, done, chunks_of(done, [unit(1, 0, 0, 0)]))
    await ingest(store, orphan, chunks_of(orphan, [unit(1, 0, 0, 0)]))
    assert await store.delete_file(orphan.id)
    found = await store.searchable_files([vs.id])
    assert [(entry.id, entry.status, file.filename) for entry, file in found] == [
        (done.id, "completed", f"{done.id}.txt")
    ]
    assert await store.searchable_files([other.id, "vs_\x00"]) == []
