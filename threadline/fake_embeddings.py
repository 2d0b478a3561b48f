"""The fake upstream's `/v1/embeddings`: deterministic bag-of-words vectors, so that texts
sharing words are near each other (enough for tests of upstream embedding models)."""

from __future__ import annotations

import hashlib
import json
import re

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["FAKE_EMBEDDING_DIMENSIONS", "embeddings_route", "fake_embedding"]

FAKE_EMBEDDING_DIMENSIONS = 64


def fake_embedding(text: str) -> list[float]:
    """Each word adds one to a coordinate picked by its hash."""
    vector = [0.0] * FAKE_EMBEDDING_DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest) % FAKE_EMBEDDING_DIMENSIONS] += 1.0
    return vector


def _error(message: str) -> JSONResponse:
    error = {"message": message, "type": "invalid_request_error", "param": "input", "code": None}
    return JSONResponse({"error": error}, status_code=400)


async def embeddings_route(request: Request) -> JSONResponse:
    """`POST /v1/embeddings` as OpenAI answers it (float encoding)."""
    try:
        body = json.loads(await request.body())
        texts = body["input"]
    except (ValueError, KeyError, TypeError):
        return _error("Expected a JSON object with 'input'.")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
        return _error("'input' must be a non-empty string or a list of them.")
    data = [
        {"object": "embedding", "index": i, "embedding": fake_embedding(text)}
        for i, text in enumerate(texts)
    ]
    used = sum(len(text.split()) for text in texts)
    usage = {"prompt_tokens": used, "total_tokens": used}
    model = body.get("model", "fake-embedding")
    return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})
