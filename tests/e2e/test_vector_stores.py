"""Vector stores through the official SDK against `threadline serve`, ingesting with the
real MiniLM model: create, upload and poll, batches, list, retrieve, search, failures,
deletion."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = [pytest.mark.e2e]

CATS = b"Cats purr when they are content and knead soft blankets."
DOGS = b"Dogs bark loudly at the mail carrier every single morning."


def test_upload_poll_and_search(client: openai.OpenAI) -> None:
    vs = client.vector_stores.create(name="pets", metadata={"team": "a"})
    assert (vs.object, vs.name, vs.status, vs.file_counts.total) == (
        "vector_store",
        "pets",
        "completed",
        0,
    )
    assert vs.id.startswith("vs_")
    cats = client.vector_stores.files.upload_and_poll(
        vector_store_id=vs.id, file=("cats.txt", CATS), poll_interval_ms=100
    )
    assert (cats.status, cats.last_error) == ("completed", None)
    dogs = client.files.create(file=("dogs.md", DOGS), purpose="assistants")
    polled = client.vector_stores.files.create_and_poll(
        vector_store_id=vs.id, file_id=dogs.id, attributes={"kind": "dog"}, poll_interval_ms=100
    )
    assert polled.status == "completed"
    page = client.vector_stores.search(vs.id, query="which animal barks at the mail carrier?")
    assert page.data[0].file_id == dogs.id
    assert page.data[0].filename == "dogs.md"
    assert page.data[0].attributes == {"kind": "dog"}
    assert page.data[0].content[0].text == DOGS.decode()
    retrieved = client.vector_stores.retrieve(vs.id)
    assert (retrieved.file_counts.completed, retrieved.status) == (2, "completed")
    assert retrieved.usage_bytes > 0


def test_search_ranking_options_and_page_fields(client: openai.OpenAI, http: httpx.Client) -> None:
    vs = client.vector_stores.create(name="pets")
    for name, data in (("cats.txt", CATS), ("dogs.txt", DOGS)):
        client.vector_stores.files.upload_and_poll(
            vector_store_id=vs.id, file=(name, data), poll_interval_ms=100
        )
    page = client.vector_stores.search(
        vs.id,
        query="which animal barks?",
        rewrite_query=True,
        max_num_results=1,
        ranking_options={"ranker": "none", "score_threshold": 0.0},
    )
    [hit] = page.data
    assert hit.filename == "dogs.txt"
    assert 0 < hit.score < 1  # the cosine alone, no fusion
    for ranker in ("auto", "default-2024-11-15"):
        body = {"query": "cats purr", "ranking_options": {"ranker": ranker}}
        raw = http.post(f"/vector_stores/{vs.id}/search", json=body).json()
        assert raw["data"][0]["filename"] == "cats.txt"
        assert (raw["has_more"], raw["next_page"]) == (False, None)
        assert raw["search_query"] == ["cats purr"]
    cut = http.post(
        f"/vector_stores/{vs.id}/search", json={"query": "animals", "max_num_results": 1}
    ).json()
    assert (len(cut["data"]), cut["has_more"], cut["next_page"]) == (1, True, None)
    wrong = {"query": "cats", "ranking_options": {"ranker": "default_2024_08_21"}}
    answer = http.post(f"/vector_stores/{vs.id}/search", json=wrong)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "ranking_options.ranker"


def test_batch_with_a_bad_file(client: openai.OpenAI) -> None:
    vs = client.vector_stores.create(
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
        }
    )
    batch = client.vector_stores.file_batches.upload_and_poll(
        vs.id,
        files=[("cats.txt", CATS), ("broken.pdf", b"%PDF-1.4 broken"), ("dogs.txt", DOGS)],
        poll_interval_ms=100,
    )
    assert batch.id.startswith("vsfb_")
    assert (batch.status, batch.file_counts.completed, batch.file_counts.failed) == (
        "completed",
        2,
        1,
    )
    failed = client.vector_stores.file_batches.list_files(
        batch_id=batch.id, vector_store_id=vs.id, filter="failed"
    )
    assert len(failed.data) == 1
    assert failed.data[0].last_error is not None
    assert failed.data[0].last_error.code == "invalid_file"
    everything = client.vector_stores.files.list(vs.id, limit=2)
    assert len(everything.data) == 2
    assert everything.has_more
    assert len(list(client.vector_stores.files.list(vs.id, limit=2))) == 3


def test_deleting_files_and_stores(client: openai.OpenAI) -> None:
    vs = client.vector_stores.create(name="tmp")
    cats = client.vector_stores.files.upload_and_poll(
        vector_store_id=vs.id, file=("cats.txt", CATS), poll_interval_ms=100
    )
    assert client.vector_stores.search(vs.id, query="cats purr").data
    client.files.delete(cats.id)  # the File: its vector store file stays, unsearchable
    assert client.vector_stores.files.retrieve(file_id=cats.id, vector_store_id=vs.id)
    assert client.vector_stores.search(vs.id, query="cats purr").data == []
    deleted = client.vector_stores.files.delete(file_id=cats.id, vector_store_id=vs.id)
    assert (deleted.object, deleted.deleted) == ("vector_store.file.deleted", True)
    renamed = client.vector_stores.update(
        vs.id, name="renamed", expires_after={"anchor": "last_active_at", "days": 2}
    )
    assert renamed.name == "renamed"
    assert renamed.expires_at is not None
    assert vs.id in {v.id for v in client.vector_stores.list()}
    gone = client.vector_stores.delete(vs.id)
    assert (gone.object, gone.deleted) == ("vector_store.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(vs.id)


def test_errors(client: openai.OpenAI) -> None:
    vs = client.vector_stores.create()
    with pytest.raises(openai.NotFoundError, match="No file found with id 'file-x'"):
        client.vector_stores.files.create(vector_store_id=vs.id, file_id="file-x")
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150},
            }
        )
    assert info.value.param == "chunking_strategy.static.chunk_overlap_tokens"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.list("vs_missing")
