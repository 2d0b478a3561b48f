"""Search filters on attributes (the evaluation, then through the search service), and
the refusal to compare vectors of different embedding models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from threadline.errors import InvalidRequestError
from threadline.protocol.vector_stores import (
    CompoundFilter,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    SearchRequest,
    UpdateVectorStoreFileRequest,
)
from threadline.retrieval.filters import Filter, matches
from threadline.services.search import SearchService

from .test_vector_stores import BagOfWords, Setup

ATTRIBUTES: dict[str, str | float | bool] = {"kind": "dog", "legs": 4, "pet": True, "name": "m"}


def parsed(value: object) -> Filter:
    request = SearchRequest.model_validate({"query": "q", "filters": value})
    assert request.filters is not None
    return request.filters


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"type": "eq", "key": "kind", "value": "dog"}, True),
        ({"type": "eq", "key": "legs", "value": 4.0}, True),
        ({"type": "eq", "key": "pet", "value": 1}, False),  # booleans only equal booleans
        ({"type": "ne", "key": "kind", "value": "cat"}, True),
        ({"type": "ne", "key": "missing", "value": "cat"}, True),
        ({"type": "gt", "key": "legs", "value": 3}, True),
        ({"type": "gte", "key": "legs", "value": 4}, True),
        ({"type": "lt", "key": "legs", "value": 4}, False),
        ({"type": "lte", "key": "name", "value": "z"}, True),  # strings: lexicographic
        ({"type": "gt", "key": "kind", "value": 1}, False),  # mixed types never order
        ({"type": "gt", "key": "missing", "value": 1}, False),
        ({"type": "in", "key": "kind", "value": ["cat", "dog"]}, True),
        ({"type": "nin", "key": "kind", "value": ["cat", "dog"]}, False),
        ({"type": "nin", "key": "missing", "value": ["x"]}, True),
        ({"key": "kind", "value": "dog"}, True),  # `type` defaults to eq
    ],
)
def test_comparisons(condition: dict[str, object], expected: bool) -> None:
    assert matches(parsed(condition), ATTRIBUTES) is expected


def test_compounds_nest() -> None:
    dog = {"type": "eq", "key": "kind", "value": "dog"}
    cat = {"type": "eq", "key": "kind", "value": "cat"}
    nested = {"type": "and", "filters": [dog, {"type": "or", "filters": [cat, dog]}]}
    condition = parsed(nested)
    assert isinstance(condition, CompoundFilter)
    assert matches(condition, ATTRIBUTES)
    assert not matches(parsed({"type": "and", "filters": [dog, cat]}), ATTRIBUTES)
    assert matches(parsed({"type": "or", "filters": [cat, dog]}), ATTRIBUTES)
    assert not matches(parsed(dog), None)


def test_bad_filters_are_refused() -> None:
    for bad in (
        {"type": "like", "key": "k", "value": "v"},
        {"type": "eq", "key": "k"},
        {"type": "and", "filters": [{"type": "eq", "key": "k", "value": {"x": 1}}]},
    ):
        with pytest.raises(ValidationError):
            parsed(bad)


async def test_search_filters_and_sees_updated_attributes() -> None:
    setup = Setup()
    vs = await setup.service.create(CreateVectorStoreRequest())
    for name, kind in (("cats.txt", "cat"), ("dogs.txt", "dog")):
        file_id = await setup.upload(name, f"{kind}s are animals".encode())
        request = CreateVectorStoreFileRequest(file_id=file_id, attributes={"kind": kind})
        await setup.service.add_file(vs.id, request)
    await setup.drain()
    dogs = parsed({"type": "eq", "key": "kind", "value": "dog"})
    page = await setup.search.search_page(vs.id, SearchRequest(query="animals", filters=dogs))
    assert [(r.filename, r.attributes) for r in page.data] == [("dogs.txt", {"kind": "dog"})]
    listed = await setup.store.vector_store_chunks([vs.id])
    cat_file = next(c.file_id for c in listed if c.text.startswith("cats"))
    update = UpdateVectorStoreFileRequest(attributes={"kind": "dog"})
    await setup.service.update_file(vs.id, cat_file, update)
    hits = await setup.search.search([vs.id], "animals", filters=dogs)
    assert {hit.filename for hit in hits} == {"cats.txt", "dogs.txt"}
    content = await setup.service.file_content(vs.id, cat_file)
    assert [part.text for part in content.data] == ["cats are animals"]


class OtherModel(BagOfWords):
    name = "other-model"


async def test_vectors_of_another_model_are_refused() -> None:
    setup = Setup()
    file_id = await setup.upload("cats.txt", b"cats purr")
    vs = await setup.service.create(CreateVectorStoreRequest(file_ids=[file_id]))
    await setup.drain()
    other = SearchService(setup.store, OtherModel(), setup.service)
    with pytest.raises(InvalidRequestError, match="embedded with model 'all-MiniLM-L6-v2'"):
        await other.search_page(vs.id, SearchRequest(query="cats"))
    assert await setup.search.search([vs.id], "cats")
