"""Search over vector stores: hybrid ranking of their chunks (cosine similarity of the
embeddings, computed with numpy over every chunk, fused with BM25 over the chunk texts),
optionally narrowed by `filters` on the files' attributes. `rewrite_query` is accepted and
ignored: the query is searched as given.
Exhaustive scoring is fine at this scale; sqlite-vec / pgvector indexes are a later step.
Chunks of a File deleted since it was ingested are not returned, nor chunks embedded by
another model than the server's (a search over only such chunks is refused)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from threadline.errors import InvalidRequestError
from threadline.protocol.vector_stores import (
    Attributes,
    SearchContent,
    SearchRequest,
    SearchResult,
    SearchResultsPage,
)
from threadline.retrieval.embeddings import MINILM_NAME, Embedder, Vectors, embedder_name
from threadline.retrieval.filters import Filter, matches
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
    attributes: Attributes = None


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
        filters: Filter | None = None,
    ) -> list[SearchHit]:
        """The best chunks of these vector stores' completed files for `query`, best first
        (the file_search tool's search as well as the endpoint's); only files whose
        attributes pass `filters`, when given."""
        chunks = await self.store.vector_store_chunks(vector_store_ids)
        files = await self._files(chunks)
        live = [c for c in chunks if (c.vector_store_id, c.file_id) in files]
        live = self._same_model(live)
        if filters is not None:
            live = [c for c in live if matches(filters, files[c.vector_store_id, c.file_id][1])]
        if not live or not query.strip():
            return []
        query_vector = (await self.embedder.embed([query]))[0]
        ranked = await asyncio.to_thread(
            _rank, live, query_vector, query, max_num_results, score_threshold
        )
        hits = []
        for c, score in ranked:
            filename, attributes = files[c.vector_store_id, c.file_id]
            hits.append(
                SearchHit(c.vector_store_id, c.file_id, filename, score, c.text, attributes)
            )
        return hits

    async def _files(
        self, chunks: Sequence[StoredChunk]
    ) -> dict[tuple[str, str], tuple[str, Attributes]]:
        """The filename and attributes of each vector store file with chunks whose File
        still exists."""
        found: dict[tuple[str, str], tuple[str, Attributes]] = {}
        for key in dict.fromkeys((c.vector_store_id, c.file_id) for c in chunks):
            file = await self.store.get_file(key[1])
            entry = await self.store.get_vector_store_file(*key)
            if file is not None and entry is not None:
                found[key] = (file.filename, entry.attributes)
        return found

    def _same_model(self, chunks: Sequence[StoredChunk]) -> list[StoredChunk]:
        """The chunks this server's embedder made; 400 when there are only others'."""
        model = embedder_name(self.embedder)
        same = [c for c in chunks if (c.model or MINILM_NAME) == model]
        if chunks and not same:
            other = chunks[0].model or MINILM_NAME
            raise InvalidRequestError(
                f"The vector store's files were embedded with model '{other}', but this "
                f"server embeds with '{model}': vectors of different models cannot be "
                "compared. Add the files to a new vector store to search them.",
                code="embedding_model_mismatch",
            )
        return same

    async def search_page(self, vector_store_id: str, request: SearchRequest) -> SearchResultsPage:
        """`POST /vector_stores/{id}/search`."""
        await self.vector_stores.touch(vector_store_id)
        queries = [request.query] if isinstance(request.query, str) else request.query
        options = request.ranking_options
        threshold = options.score_threshold if options is not None else 0.0
        hits = await self.search(
            [vector_store_id],
            " ".join(queries),
            request.max_num_results,
            threshold,
            request.filters,
        )
        results = [
            SearchResult(
                file_id=hit.file_id,
                filename=hit.filename,
                score=hit.score,
                attributes=hit.attributes,
                content=[SearchContent(text=hit.text)],
            )
            for hit in hits
        ]
        return SearchResultsPage(search_query=queries, data=results)
