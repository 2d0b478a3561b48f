"""`python -m bench.retrieval_eval`: recall@5 and MRR of file_search's retrieval building blocks.

Six short documents on unrelated topics (`bench/retrieval_corpus.json`) are chunked (100-token
chunks, 20 overlapping), embedded with the local MiniLM model and indexed with BM25. Thirty
questions, each tied to the passage that answers it and to the phrase in it that holds the
answer, are asked by vector search, full-text search and the hybrid rankers. A chunk is relevant
when it holds most of that phrase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threadline.retrieval.chunking import chunk_text
from threadline.retrieval.embeddings import MiniLMEmbedder, Vectors
from threadline.retrieval.ranking import (
    BM25Index,
    Scores,
    cosine_scores,
    hybrid_scores,
    select,
)

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


async def run(size: int, overlap: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval_eval", description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--overlap", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.max_tokens, args.overlap))


if __name__ == "__main__":
    main()
