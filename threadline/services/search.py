"""Search over vector stores: hybrid ranking of their chunks (cosine similarity of the
embeddings, computed with numpy over every chunk, fused with BM25 over the chunk texts).
Exhaustive scoring is fine at this scale; sqlite-vec / pgvector indexes are a later step.
Chunks of a File deleted since it was ingested are not returned."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from threadline.protocol.vector_stores import (
    SearchContent,
    SearchRequest,
    SearchResult,
    SearchResultsPage,
)
from threadline.retrieval.embeddings import Embedder, Vectors
from threadline.retrieval.ranking import BM25Index, cosine_scores, hybrid_scores, select
from threadline.services.vector_stores import VectorStoreService
from threadline.store.base import Store, StoredChunk

__all__ = ["SearchHit", "SearchService"]


@dataclass(frozen=True)
class SearchHit:
    vector_store_id: str
    file_id: str
    filename: str
    score: float
    text: str


def _rank(
    chunks: Sequence[StoredChunk],
    query_vector: Vectors,
    query: str,
    max_num_results: int,
    score_threshold: float,
) -> list[tuple[StoredChunk, float]]:
    dimensions = len(query_vector)
    usable = [c for c in chunks if len(c.vector) == 4 * dimensions]
    if not usable:
        return []
    vectors = np.frombuffer(b"".join(c.vector for c in usable), dtype=np.float32)
    vector = cosine_scores(query_vector, vectors.reshape(len(usable), dimensions))
    text = BM25Index([c.text for c in usable]).scores(query)
    scores = hybrid_scores(vector, text)
    hits = select(scores, max_num_results=max_num_results, score_threshold=score_threshold)
    return [(usable[hit.index], hit.score) for hit in hits]


class SearchService:
    def __init__(self, store: Store, embedder: Embedder, vector_stores: VectorStoreService) -> None:
        self.store = store
        self.embedder = embedder
        self.vector_stores = vector_stores

    async def search(
        self,
        vector_store_ids: Sequence[str],
        query: str,
        max_num_results: int = 10,
        score_threshold: float = 0.0,
    ) -> list[SearchHit]:
        """The best chunks of these vector stores' completed files for `query`, best first
        (the file_search tool's search as well as the endpoint's)."""
        chunks = await self.store.vector_store_chunks(vector_store_ids)
        filenames: dict[str, str] = {}
        for file_id in dict.fromkeys(c.file_id for c in chunks):
            file = await self.store.get_file(file_id)
            if file is not None:
                filenames[file_id] = file.filename
        live = [c for c in chunks if c.file_id in filenames]
        if not live or not query.strip():
            return []
        query_vector = (await self.embedder.embed([query]))[0]
        ranked = await asyncio.to_thread(
            _rank, live, query_vector, query, max_num_results, score_threshold
        )
        return [
            SearchHit(c.vector_store_id, c.file_id, filenames[c.file_id], score, c.text)
            for c, score in ranked
        ]

    async def search_page(self, vector_store_id: str, request: SearchRequest) -> SearchResultsPage:
        """`POST /vector_stores/{id}/search`."""
        await self.vector_stores.touch(vector_store_id)
        queries = [request.query] if isinstance(request.query, str) else request.query
        options = request.ranking_options
        threshold = options.score_threshold if options is not None else 0.0
        hits = await self.search(
            [vector_store_id], " ".join(queries), request.max_num_results, threshold
        )
        results = []
        for hit in hits:
            file = await self.store.get_vector_store_file(vector_store_id, hit.file_id)
            results.append(
                SearchResult(
                    file_id=hit.file_id,
                    filename=hit.filename,
                    score=hit.score,
                    attributes=file.attributes if file is not None else None,
                    content=[SearchContent(text=hit.text)],
                )
            )
        return SearchResultsPage(search_query=queries, data=results)
