"""An upstream embedding model (`THREADLINE_EMBEDDINGS_MODEL`), the fake upstream's
`/v1/embeddings` serving it: ingestion and search use it, and a server embedding with
another model refuses to compare its vectors with them."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.harness import Databases, ServerFactory, sdk_client
from threadline.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.e2e]

CATS = b"Cats purr when they are content and knead soft blankets."
DOGS = b"Dogs bark loudly at the mail carrier every single morning."


def test_upstream_embeddings_and_model_mismatch(
    databases: Databases, server_factory: ServerFactory, upstream: FakeUpstream
) -> None:
    url = databases.new()
    env = {
        "THREADLINE_MODEL_BASE_URL": "http://127.0.0.1:9/v1",  # unused: embeddings go below
        "THREADLINE_EMBEDDINGS_BASE_URL": upstream.base_url,
        "THREADLINE_EMBEDDINGS_MODEL": "fake-embedding",
    }
    first = server_factory(url, env=env)
    with sdk_client(first.base_url) as sdk:
        vs = sdk.vector_stores.create(name="upstream")
        for name, data in (("cats.txt", CATS), ("dogs.txt", DOGS)):
            done = sdk.vector_stores.files.upload_and_poll(
                vector_store_id=vs.id, file=(name, data), poll_interval_ms=100
            )
            assert done.status == "completed", done.last_error
        page = sdk.vector_stores.search(vs.id, query="dogs bark at the mail carrier")
        assert page.data[0].filename == "dogs.txt"
    first.stop()
    second = server_factory(url)  # the local MiniLM model
    refused = pytest.raises(openai.BadRequestError, match="embedded with model 'fake-embedding'")
    with sdk_client(second.base_url) as sdk, refused:
        sdk.vector_stores.search(vs.id, query="dogs")
