"""The upstream embedder as the settings build it, against the fake upstream's
`/v1/embeddings`, and the model name chunks record."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from threadline.config import Settings
from threadline.engine import configured_embedder
from threadline.fake_embeddings import FAKE_EMBEDDING_DIMENSIONS, fake_embedding
from threadline.fake_upstream import FakeUpstream
from threadline.retrieval.embeddings import (
    MINILM_NAME,
    EmbeddingError,
    MiniLMEmbedder,
    UpstreamEmbedder,
    embedder_name,
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def test_empty_model_is_the_local_one() -> None:
    embedder = configured_embedder(Settings(_env_file=None))
    assert isinstance(embedder, MiniLMEmbedder)
    assert embedder_name(embedder) == MINILM_NAME


def test_an_upstream_model_needs_a_base_url() -> None:
    with pytest.raises(ValueError, match="THREADLINE_EMBEDDINGS_BASE_URL"):
        configured_embedder(Settings(_env_file=None, embeddings_model="m"))


async def test_upstream_embeddings_default_to_the_model_endpoint(upstream: FakeUpstream) -> None:
    settings = Settings(
        _env_file=None, embeddings_model="fake-embedding", model_base_url=upstream.base_url
    )
    embedder = configured_embedder(settings)
    assert isinstance(embedder, UpstreamEmbedder)
    assert embedder_name(embedder) == "fake-embedding"
    vectors = await embedder.embed(["cats purr", "dogs bark", ""])
    await embedder.close()
    assert vectors.shape == (3, FAKE_EMBEDDING_DIMENSIONS)
    assert embedder.dimensions == FAKE_EMBEDDING_DIMENSIONS
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)


async def test_a_fixed_width_is_enforced(upstream: FakeUpstream) -> None:
    settings = Settings(
        _env_file=None,
        embeddings_model="fake-embedding",
        embeddings_base_url=upstream.base_url,
        embeddings_api_key="k",
        embeddings_dimensions=8,
    )
    embedder = configured_embedder(settings)
    assert isinstance(embedder, UpstreamEmbedder)
    with pytest.raises(EmbeddingError, match="Expected 8 dimensions"):
        await embedder.embed(["cats"])
    await embedder.close()


def test_fake_embeddings_are_deterministic_bags_of_words() -> None:
    assert fake_embedding("Cats purr") == fake_embedding("purr cats")
    assert sum(fake_embedding("a b c")) == 3.0
