"""The store contract for a vector store file's attributes (updated in place, kept when
ingestion finishes meanwhile), its chunks in order, and the model chunks record."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.store import Store
from threadline.store.base import StoredChunk

from .conftest import VECTOR_BACKENDS, vector_backend_url
from .test_contract import NOW
from .test_contract_vector_stores import vector_store, vs_file


@pytest.fixture(params=VECTOR_BACKENDS)
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Every backend, and each vector index path (see `VECTOR_BACKENDS`)."""
    return vector_backend_url(request.param, tmp_path, request, monkeypatch)


async def test_attributes_update_in_place_and_survive_ingestion(store: Store) -> None:
    vs = vector_store()
    file = vs_file(vs.id, attributes={"a": 1.0})
    await store.insert_vector_store(vs, [file])
    assert await store.update_vector_store_file_attributes(vs.id, "file-x", {"a": "b"}) is None
    claim = await store.claim_vector_store_file("me", NOW, 30.0)
    assert claim is not None
    updated = await store.update_vector_store_file_attributes(vs.id, file.id, {"b": True})
    assert updated == file.model_copy(update={"attributes": {"b": True}})
    chunks = [
        StoredChunk(vs.id, file.id, i, f"text {i}", 2, b"\x00" * 8, "some-model") for i in (1, 0)
    ]
    done = claim.file.model_copy(update={"status": "completed", "usage_bytes": 9})
    assert await store.finish_vector_store_file(done, chunks, "me")
    stored = await store.get_vector_store_file(vs.id, file.id)
    assert stored is not None
    assert (stored.status, stored.attributes) == ("completed", {"b": True})
    found = await store.vector_store_file_chunks(vs.id, file.id)
    assert [(c.index, c.text, c.model) for c in found] == [
        (0, "text 0", "some-model"),
        (1, "text 1", "some-model"),
    ]
    assert await store.vector_store_file_chunks(vs.id, "file-x") == []
    assert [c.model for c in await store.vector_store_chunks([vs.id])] == ["some-model"] * 2
