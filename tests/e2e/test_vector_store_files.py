"""Vector store files' attributes (update) and parsed content, and search filters on the
attributes, through the official SDK."""

from __future__ import annotations

import openai
import pytest

pytestmark = [pytest.mark.e2e]

CATS = b"Cats purr when they are content and knead soft blankets."
DOGS = b"Dogs bark loudly at the mail carrier every single morning."
BIRDS = b"Birds sing at dawn and build nests out of twigs and moss."


def test_update_attributes_and_read_content(client: openai.OpenAI) -> None:
    vs = client.vector_stores.create()
    text = " ".join(f"word{i}" for i in range(300))
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=vs.id,
        file=("long.txt", text.encode()),
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
        },
        poll_interval_ms=100,
    )
    assert done.attributes in (None, {})
    updated = client.vector_stores.files.update(
        file_id=done.id, vector_store_id=vs.id, attributes={"year": 2024, "draft": False}
    )
    assert (updated.id, updated.attributes) == (done.id, {"year": 2024, "draft": False})
    retrieved = client.vector_stores.files.retrieve(file_id=done.id, vector_store_id=vs.id)
    assert retrieved.attributes == {"year": 2024, "draft": False}
    assert retrieved.status == "completed"
    pages = list(client.vector_stores.files.content(file_id=done.id, vector_store_id=vs.id))
    assert len(pages) > 1
    assert all(part.type == "text" for part in pages)
    assert pages[0].text is not None
    assert pages[0].text.startswith("word0 word1")
    cleared = client.vector_stores.files.update(
        file_id=done.id, vector_store_id=vs.id, attributes=None
    )
    assert cleared.attributes is None


def test_update_and_content_errors(client: openai.OpenAI) -> None:
    vs = client.vector_stores.create()
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.update(
            file_id="file-missing", vector_store_id=vs.id, attributes={"a": "b"}
        )
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.content(file_id="file-missing", vector_store_id=vs.id)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.content(file_id="file-x", vector_store_id="vs_missing")
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=vs.id, file=("cats.txt", CATS), poll_interval_ms=100
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.update(
            file_id=done.id,
            vector_store_id=vs.id,
            attributes={f"k{i}": i for i in range(17)},
        )
    assert info.value.param == "attributes"


def _store_with_pets(client: openai.OpenAI) -> tuple[str, dict[str, str]]:
    vs = client.vector_stores.create(name="filtered")
    ids = {}
    pets: list[tuple[str, bytes, dict[str, str | float | bool]]] = [
        ("cats.txt", CATS, {"kind": "cat", "legs": 4, "pet": True}),
        ("dogs.txt", DOGS, {"kind": "dog", "legs": 4, "pet": True}),
        ("birds.txt", BIRDS, {"kind": "bird", "legs": 2}),
    ]
    for name, data, attributes in pets:
        uploaded = client.files.create(file=(name, data), purpose="assistants")
        done = client.vector_stores.files.create_and_poll(
            vector_store_id=vs.id, file_id=uploaded.id, attributes=attributes, poll_interval_ms=100
        )
        assert done.status == "completed"
        ids[name] = uploaded.id
    return vs.id, ids


def test_search_filters(client: openai.OpenAI) -> None:
    vs_id, ids = _store_with_pets(client)

    def found(filters: object) -> set[str]:
        page = client.vector_stores.search(vs_id, query="animals", filters=filters)  # type: ignore[arg-type]
        return {hit.filename for hit in page.data}

    assert found({"type": "eq", "key": "kind", "value": "dog"}) == {"dogs.txt"}
    assert found({"type": "ne", "key": "kind", "value": "dog"}) == {"cats.txt", "birds.txt"}
    assert found({"type": "gt", "key": "legs", "value": 2}) == {"cats.txt", "dogs.txt"}
    assert found({"type": "lte", "key": "legs", "value": 2}) == {"birds.txt"}
    assert found({"type": "gte", "key": "legs", "value": 2}) == set(ids)
    assert found({"type": "lt", "key": "legs", "value": 2}) == set()
    assert found({"type": "in", "key": "kind", "value": ["cat", "bird"]}) == {
        "cats.txt",
        "birds.txt",
    }
    assert found({"type": "eq", "key": "pet", "value": True}) == {"cats.txt", "dogs.txt"}
    both = {
        "type": "and",
        "filters": [
            {"type": "eq", "key": "legs", "value": 4},
            {
                "type": "or",
                "filters": [
                    {"type": "eq", "key": "kind", "value": "cat"},
                    {"type": "eq", "key": "kind", "value": "bird"},
                ],
            },
        ],
    }
    assert found(both) == {"cats.txt"}
    page = client.vector_stores.search(
        vs_id, query="bark", filters={"type": "eq", "key": "kind", "value": "dog"}
    )
    assert page.data[0].attributes == {"kind": "dog", "legs": 4, "pet": True}


def test_filters_see_updated_attributes_and_bad_filters_are_refused(
    client: openai.OpenAI,
) -> None:
    vs_id, ids = _store_with_pets(client)
    client.vector_stores.files.update(
        file_id=ids["birds.txt"], vector_store_id=vs_id, attributes={"kind": "dog"}
    )
    page = client.vector_stores.search(
        vs_id, query="animals", filters={"type": "eq", "key": "kind", "value": "dog"}
    )
    assert {hit.filename for hit in page.data} == {"dogs.txt", "birds.txt"}
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search(
            vs_id,
            query="animals",
            filters={"type": "like", "key": "kind", "value": "dog"},  # type: ignore[arg-type]
        )
    assert info.value.param is not None
    assert info.value.param.startswith("filters")
