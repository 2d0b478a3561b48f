"""The store contract for vector stores: their files (the ingestion queue with leases),
batches, counts and chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline.ids import new_id
from threadline.protocol.common import ListQuery
from threadline.protocol.vector_stores import FileBatch, VectorStore, VectorStoreFile
from threadline.store import Store, open_store
from threadline.store.base import StoredChunk

from .conftest import VECTOR_BACKENDS, vector_backend_url
from .test_contract import NOW

STRATEGY = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


@pytest.fixture(params=VECTOR_BACKENDS)
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Every backend, and each vector index path (see `VECTOR_BACKENDS`)."""
    return vector_backend_url(request.param, tmp_path, request, monkeypatch)


def vector_store(**changes: Any) -> VectorStore:
    fields: dict[str, Any] = {
        "id": new_id("vs"),
        "created_at": NOW,
        "name": "docs",
        "last_active_at": NOW,
        "metadata": {},
    }
    return VectorStore(**(fields | changes))


def vs_file(vector_store_id: str, **changes: Any) -> VectorStoreFile:
    fields: dict[str, Any] = {
        "id": new_id("file", "-"),
        "created_at": NOW,
        "vector_store_id": vector_store_id,
        "chunking_strategy": STRATEGY,
    }
    return VectorStoreFile(**(fields | changes))


def chunk(file: VectorStoreFile, index: int = 0) -> StoredChunk:
    return StoredChunk(file.vector_store_id, file.id, index, f"text {index}", 2, b"\x00" * 8)


async def test_vector_store_round_trips_and_lists(store: Store) -> None:
    first, second = vector_store(), vector_store(name="", metadata={"k": "v"})
    await store.insert_vector_store(first)
    await store.insert_vector_store(second)
    assert await store.get_vector_store(first.id) == first
    assert await store.get_vector_store("vs_\x00") is None
    page = await store.list_vector_stores(ListQuery())
    assert [v.id for v in page.data] == [second.id, first.id]
    renamed = first.model_copy(update={"name": "renamed"})
    assert await store.replace_vector_store(renamed)
    assert await store.get_vector_store(first.id) == renamed


async def test_files_count_by_status_and_delete_with_their_store(store: Store) -> None:
    vs = vector_store()
    files = [vs_file(vs.id) for _ in range(3)]
    await store.insert_vector_store(vs, files)
    stats = await store.vector_store_stats(vs.id)
    assert stats.counts == {"in_progress": 3}
    assert await store.get_vector_store_file(vs.id, files[0].id) == files[0]
    assert await store.get_vector_store_file("vs_other", files[0].id) is None
    page = await store.list_vector_store_files(vs.id, ListQuery(order="asc"))
    assert [f.id for f in page.data] == [f.id for f in files]
    assert await store.delete_vector_store_file(vs.id, files[0].id)
    assert not await store.delete_vector_store_file(vs.id, files[0].id)
    assert await store.delete_vector_store(vs.id)
    assert await store.get_vector_store_file(vs.id, files[1].id) is None
    assert not await store.insert_vector_store_files([vs_file(vs.id)])


async def test_claim_leases_each_file_once_until_it_lapses(store: Store) -> None:
    vs = vector_store()
    files = [vs_file(vs.id), vs_file(vs.id)]
    await store.insert_vector_store(vs, files)
    first = await store.claim_vector_store_file("a", 100.0, 30.0)
    second = await store.claim_vector_store_file("b", 100.0, 30.0)
    assert first is not None
    assert second is not None
    assert (first.file.id, first.attempts) == (files[0].id, 1)
    assert second.file.id == files[1].id
    assert await store.claim_vector_store_file("c", 110.0, 30.0) is None
    again = await store.claim_vector_store_file("c", 131.0, 30.0)
    assert again is not None
    assert (again.file.id, again.attempts) == (files[0].id, 2)
    done = files[0].model_copy(update={"status": "completed", "usage_bytes": 10})
    assert not await store.finish_vector_store_file(done, [chunk(done)], "a")
    assert await store.finish_vector_store_file(done, [chunk(done), chunk(done, 1)], "c")
    assert not await store.finish_vector_store_file(done, [], "c")
    assert await store.get_vector_store_file(vs.id, done.id) == done
    stats = await store.vector_store_stats(vs.id)
    assert (stats.counts, stats.usage_bytes) == ({"in_progress": 1, "completed": 1}, 10)


async def test_a_lease_is_renewed_only_by_its_holder_while_in_progress(store: Store) -> None:
    vs = vector_store()
    files = [vs_file(vs.id) for _ in range(3)]
    await store.insert_vector_store(vs)
    batch = FileBatch(id=new_id("vsfb"), created_at=NOW, vector_store_id=vs.id)
    assert await store.insert_vector_store_files(files[:2], batch)
    assert await store.insert_vector_store_files(files[2:])
    claims = [await store.claim_vector_store_file("a", 0.0, 10.0) for _ in files]
    assert [c.file.id for c in claims if c is not None] == [f.id for f in files]
    assert await store.renew_vector_store_file_lease(vs.id, files[0].id, "a", 5.0, 10.0)
    assert not await store.renew_vector_store_file_lease(vs.id, files[0].id, "b", 5.0, 10.0)
    assert await store.claim_vector_store_file("b", 12.0, 10.0) is not None  # files[1] lapsed
    assert await store.claim_vector_store_file("b", 12.0, 10.0) is not None  # files[2] too
    assert await store.claim_vector_store_file("b", 12.0, 10.0) is None  # files[0]: renewed
    assert not await store.renew_vector_store_file_lease(vs.id, files[1].id, "a", 12.0, 10.0)
    await store.cancel_file_batch(vs.id, batch.id)
    assert not await store.renew_vector_store_file_lease(vs.id, files[0].id, "a", 13.0, 10.0)
    assert await store.delete_vector_store_file(vs.id, files[2].id)
    assert not await store.renew_vector_store_file_lease(vs.id, files[2].id, "b", 13.0, 10.0)
    assert not await store.renew_vector_store_file_lease("vs_\x00", "f", "b", 13.0, 10.0)


async def test_chunks_of_completed_files_only_and_gone_with_the_file(store: Store) -> None:
    vs = vector_store()
    kept, open_file = vs_file(vs.id), vs_file(vs.id)
    await store.insert_vector_store(vs, [kept, open_file])
    claim = await store.claim_vector_store_file("a", 0.0, 30.0)
    assert claim is not None
    assert claim.file.id == kept.id
    done = kept.model_copy(update={"status": "completed"})
    assert await store.finish_vector_store_file(done, [chunk(done), chunk(done, 1)], "a")
    found = await store.vector_store_chunks([vs.id])
    assert found == [chunk(done), chunk(done, 1)]
    status = await store.list_vector_store_files(vs.id, ListQuery(), status="completed")
    assert [f.id for f in status.data] == [kept.id]
    assert await store.delete_vector_store_file(vs.id, kept.id)
    assert await store.vector_store_chunks([vs.id]) == []


async def test_batches_count_their_files_and_cancel(store: Store) -> None:
    vs = vector_store()
    await store.insert_vector_store(vs, [vs_file(vs.id)])
    batch = FileBatch(id=new_id("vsfb"), created_at=NOW, vector_store_id=vs.id)
    files = [vs_file(vs.id), vs_file(vs.id)]
    assert await store.insert_vector_store_files(files, batch)
    assert await store.get_file_batch(vs.id, batch.id) == batch
    assert await store.get_file_batch("vs_other", batch.id) is None
    assert (await store.vector_store_stats(vs.id, batch.id)).counts == {"in_progress": 2}
    listed = await store.list_vector_store_files(vs.id, ListQuery(), batch_id=batch.id)
    assert len(listed.data) == 2
    cancelled = await store.cancel_file_batch(vs.id, batch.id)
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert (await store.vector_store_stats(vs.id, batch.id)).counts == {"cancelled": 2}
    assert (await store.vector_store_stats(vs.id)).counts == {"in_progress": 1, "cancelled": 2}


async def test_ingestion_queue_persists_across_reopening(sql_url: str) -> None:
    store = await open_store(sql_url)
    vs = vector_store()
    try:
        await store.insert_vector_store(vs, [vs_file(vs.id)])
        assert await store.claim_vector_store_file("dead", 0.0, 30.0) is not None
    finally:
        await store.close()
    reopened = await open_store(sql_url)
    try:
        claim = await reopened.claim_vector_store_file("alive", 31.0, 30.0)
        assert claim is not None
        assert claim.attempts == 2
    finally:
        await reopened.close()
