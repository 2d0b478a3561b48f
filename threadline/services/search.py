"""Search over vector stores: hybrid ranking of their chunks, optionally narrowed by
`filters` on the files' attributes.

The vector half asks the store for the chunks nearest to the query's embedding
(`Store.nearest_chunks`: sqlite-vec, pgvector, or an exact numpy scan where neither is
there), keeping the best `VECTOR_CANDIDATES` (at least `max_num_results`); the text half
scores every searched chunk with BM25; the two rankings are fused by reciprocal rank fusion
(`ranking.py`). A chunk outside the vector candidates counts as unranked by the vector half.

`ranking_options.ranker`: `auto` and `default-2024-11-15` are this hybrid ranking; `none`
ranks by vector similarity alone (no BM25, no fusion), which is faster. `rewrite_query` is
accepted and leaves the query as given (there is no model to rewrite it with), and
`search_query` echoes it. Chunks of a File deleted since it was ingested are not returned,
nor chunks embedded by another model than the server's (a search over only such chunks is
refused)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from threadline.errors import InvalidRequestError
from threadline.protocol.vector_stores import (
    Attributes,
    SearchContent,
    SearchRequest,
    SearchResult,
    SearchResultsPage,
)
from threadline.retrieval.embeddings import MINILM_NAME, Embedder, embedder_name
from threadline.retrieval.filters import Filter, matches
from threadline.retrieval.ranking import BM25Index, hybrid_scores, select
from threadline.services.vector_stores import VectorStoreService
from threadline.store.base import NearChunk, Store, StoredChunk

__all__ = ["VECTOR_CANDIDATES", "SearchHit", "SearchService"]

# How many chunks the vector half hands to the fusion.
VECTOR_CANDIDATES = 100
# BM25 indexes kept for repeated searches of the same chunks.
TEXT_INDEXES = 8

Ranker = Literal["none", "auto", "default-2024-11-15"]


@dataclass(frozen=True)
class SearchHit:
    vector_store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    attributes: Attributes = None


@dataclass(frozen=True)
class _Ranked:
    chunks: list[tuple[StoredChunk, float]]
    more: bool  # more chunks passed the threshold than were returned


class TextIndexes:
    """The BM25 indexes of the last few chunk lists searched, so that repeated searches of
    the same vector stores skip tokenising every chunk again. A list is known by the hash of
    its chunks' keys and texts: any chunk added, removed or changed makes a new index."""

    def __init__(self, size: int = TEXT_INDEXES) -> None:
        self._size = size
        self._indexes: OrderedDict[tuple[int, int], BM25Index] = OrderedDict()

    async def get(self, chunks: Sequence[StoredChunk]) -> BM25Index:
        key = (
            len(chunks),
            hash(tuple((c.vector_store_id, c.file_id, c.index, c.text) for c in chunks)),
        )
        index = self._indexes.get(key)
        if index is None:
            index = await asyncio.to_thread(BM25Index, [c.text for c in chunks])
            self._indexes[key] = index
            while len(self._indexes) > self._size:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(key)
        return index


def _rank(
    chunks: Sequence[StoredChunk],
    near: Sequence[NearChunk],
    text: BM25Index | None,
    query: str,
    max_num_results: int,
    score_threshold: float,
) -> _Ranked:
    position = {(c.vector_store_id, c.file_id, c.index): i for i, c in enumerate(chunks)}
    vector = np.zeros(len(chunks), dtype=np.float64)
    for hit in near:
        i = position.get((hit.vector_store_id, hit.file_id, hit.index))
        if i is not None:
            vector[i] = hit.similarity
    scores = hybrid_scores(vector, None if text is None else text.scores(query))
    hits = select(scores, max_num_results=max_num_results, score_threshold=score_threshold)
    passing = int(np.count_nonzero((scores >= score_threshold) & (scores > 0.0)))
    return _Ranked([(chunks[hit.index], hit.score) for hit in hits], passing > len(hits))


class SearchService:
    def __init__(self, store: Store, embedder: Embedder, vector_stores: VectorStoreService) -> None:
        self.store = store
        self.embedder = embedder
        self.vector_stores = vector_stores
        self._text_indexes = TextIndexes()

    async def search(
        self,
        vector_store_ids: Sequence[str],
        query: str,
        max_num_results: int = 10,
        score_threshold: float = 0.0,
        filters: Filter | None = None,
        ranker: Ranker = "auto",
    ) -> list[SearchHit]:
        """The best chunks of these vector stores' completed files for `query`, best first
        (the file_search tool's search as well as the endpoint's); only files whose
        attributes pass `filters`, when given."""
        hits, _ = await self._search(
            vector_store_ids, query, max_num_results, score_threshold, filters, ranker
        )
        return hits

    async def _search(
        self,
        vector_store_ids: Sequence[str],
        query: str,
        max_num_results: int,
        score_threshold: float,
        filters: Filter | None,
        ranker: Ranker,
    ) -> tuple[list[SearchHit], bool]:
        """The hits, and whether more passed the threshold than `max_num_results`."""
        ids = list(dict.fromkeys(vector_store_ids))
        chunks = await self.store.vector_store_chunks(ids, vectors=False)
        files = await self._files(ids)
        live = [c for c in chunks if (c.vector_store_id, c.file_id) in files]
        live = self._same_model(live)
        every_file = len(live) == len(chunks)
        if filters is not None:
            kept = [c for c in live if matches(filters, files[c.vector_store_id, c.file_id][1])]
            every_file = every_file and len(kept) == len(live)
            live = kept
        if not live or not query.strip():
            return [], False
        query_vector = (await self.embedder.embed([query]))[0]
        near = await self.store.nearest_chunks(
            ids,
            embedder_name(self.embedder),
            np.asarray(query_vector, dtype=np.float32).tobytes(),
            max(VECTOR_CANDIDATES, max_num_results),
            None if every_file else sorted({c.file_id for c in live}),
        )
        text = None if ranker == "none" else await self._text_indexes.get(live)
        ranked = _rank(live, near, text, query, max_num_results, score_threshold)
        hits = []
        for c, score in ranked.chunks:
            filename, attributes = files[c.vector_store_id, c.file_id]
            hits.append(
                SearchHit(c.vector_store_id, c.file_id, filename, score, c.text, attributes)
            )
        return hits, ranked.more

    async def _files(
        self, vector_store_ids: Sequence[str]
    ) -> dict[tuple[str, str], tuple[str, Attributes]]:
        """The filename and attributes of each completed vector store file whose File
        still exists."""
        found = await self.store.searchable_files(vector_store_ids)
        return {(e.vector_store_id, e.id): (file.filename, e.attributes) for e, file in found}

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
        hits, more = await self._search(
            [vector_store_id],
            " ".join(queries),
            request.max_num_results,
            threshold,
            request.filters,
            options.ranker if options is not None else "auto",
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
        # The request has no page parameter, so there is never a next page to ask for;
        # `has_more` says the results were cut at `max_num_results` (up to 50 may be asked).
        return SearchResultsPage(search_query=queries, data=results, has_more=more, next_page=None)
