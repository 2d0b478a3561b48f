"""Hybrid ranking for file_search: BM25 full text, cosine vectors, and their fusion.

Every score handed out is in [0, 1], like OpenAI's file_search `score`:

- vector: the cosine similarity clipped at 0;
- text: BM25 divided by the best BM25 of the query over the searched chunks;
- hybrid (`rrf`): reciprocal rank fusion (k = 60) divided by its best possible value, so a chunk
  ranked first by both searches scores 1.0 and one ranked first by only one scores 0.5;
- hybrid (`weighted`): `alpha` times the vector score plus the rest times the text score.

`select()` applies `score_threshold` and `max_num_results` (1..50, default 20).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_MAX_NUM_RESULTS",
    "RRF_K",
    "BM25Index",
    "Hit",
    "Scores",
    "cosine_scores",
    "hybrid_scores",
    "reciprocal_rank_fusion",
    "select",
    "tokenize",
    "validate_ranking_options",
    "weighted_fusion",
]

Scores = NDArray[np.float64]
Ranker = Literal["rrf", "weighted"]
DEFAULT_MAX_NUM_RESULTS = 20
MAX_NUM_RESULTS = 50
RRF_K = 60

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "did", "do", "does", "for",
    "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "of",
    "on", "or", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why",
    "will", "with", "would", "you", "your"
})  # fmt: skip


def _stem(word: str) -> str:
    """A light English suffix stripper: plural and common verb endings, nothing clever."""
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words without stopwords: the terms BM25 matches on."""
    words = _WORD.findall(text.lower())
    return [_stem(word) for word in words if word not in _STOPWORDS]


class BM25Index:
    """Okapi BM25 over a fixed list of texts (k1 = 1.2, b = 0.75, Lucene's idf)."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._size = len(texts)
        self._postings: dict[str, tuple[NDArray[np.intp], NDArray[np.float64]]] = {}
        lengths = np.zeros(self._size, dtype=np.float64)
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[doc] = sum(counts.values())
            for term, count in counts.items():
                postings.setdefault(term, []).append((doc, count))
        average = float(lengths.mean()) if self._size and lengths.any() else 1.0
        # Per-document length normalisation, folded into the term-frequency saturation below.
        norm = k1 * (1.0 - b + b * lengths / average)
        for term, rows in postings.items():
            docs = np.array([doc for doc, _ in rows], dtype=np.intp)
            tf = np.array([count for _, count in rows], dtype=np.float64)
            idf = math.log(1.0 + (self._size - len(rows) + 0.5) / (len(rows) + 0.5))
            self._postings[term] = (docs, idf * tf * (k1 + 1.0) / (tf + norm[docs]))

    def __len__(self) -> int:
        return self._size

    def scores(self, query: str) -> Scores:
        """The BM25 score of every text for `query` (0 where no term matches)."""
        result = np.zeros(self._size, dtype=np.float64)
        for term in set(tokenize(query)):
            if term in self._postings:
                docs, weights = self._postings[term]
                result[docs] += weights
        return result


def cosine_scores(query: NDArray[np.floating], vectors: NDArray[np.floating]) -> Scores:
    """Cosine similarity of one query vector to each row (both assumed unit length)."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(vectors @ query, dtype=np.float64).reshape(-1)


def _ranks(scores: Scores) -> NDArray[np.float64]:
    """1-based rank of each item by descending score; items scoring 0 or less are unranked."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    ranks[scores <= 0.0] = np.inf
    return ranks


def reciprocal_rank_fusion(score_lists: Sequence[Scores], k: int = RRF_K) -> Scores:
    """RRF over several scorings of the same items, scaled to [0, 1]."""
    if not score_lists:
        raise ValueError("reciprocal_rank_fusion needs at least one list of scores")
    total = np.zeros(len(score_lists[0]), dtype=np.float64)
    for scores in score_lists:
        total += 1.0 / (k + _ranks(np.asarray(scores, dtype=np.float64)))
    return total / (len(score_lists) / (k + 1.0))


def _relative(scores: Scores) -> Scores:
    best = float(scores.max()) if len(scores) else 0.0
    return scores / best if best > 0.0 else np.zeros_like(scores)


def weighted_fusion(vector: Scores, text: Scores, alpha: float = 0.5) -> Scores:
    """`alpha` of the clipped cosine plus `1 - alpha` of the query-relative BM25, in [0, 1]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return alpha * np.clip(vector, 0.0, 1.0) + (1.0 - alpha) * _relative(text)


def hybrid_scores(
    vector: Scores | None, text: Scores | None, *, ranker: Ranker = "rrf", alpha: float = 0.5
) -> Scores:
    """One [0, 1] score per chunk from the vector scores, the BM25 scores, or both."""
    if vector is None and text is None:
        raise ValueError("hybrid_scores needs vector scores, text scores or both")
    if text is None:
        return np.clip(np.asarray(vector, dtype=np.float64), 0.0, 1.0)
    if vector is None:
        return _relative(np.asarray(text, dtype=np.float64))
    if ranker == "rrf":
        return reciprocal_rank_fusion([vector, text])
    return weighted_fusion(vector, text, alpha)


@dataclass(frozen=True, slots=True)
class Hit:
    index: int
    score: float


def validate_ranking_options(max_num_results: int, score_threshold: float) -> None:
    """OpenAI's limits for file_search: 1..50 results, a threshold between 0 and 1."""
    if not 1 <= max_num_results <= MAX_NUM_RESULTS:
        raise ValueError(
            f"Invalid 'max_num_results': expected a value between 1 and {MAX_NUM_RESULTS}, "
            f"but got {max_num_results} instead."
        )
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(
            "Invalid 'ranking_options.score_threshold': expected a value between 0 and 1, "
            f"but got {score_threshold} instead."
        )


def select(
    scores: Scores, *, max_num_results: int = DEFAULT_MAX_NUM_RESULTS, score_threshold: float = 0.0
) -> list[Hit]:
    """The best chunks, best first: at most `max_num_results`, none below `score_threshold`.

    Chunks scoring exactly 0 (no match at all) are left out even with a threshold of 0.
    """
    validate_ranking_options(max_num_results, score_threshold)
    values = np.asarray(scores, dtype=np.float64)
    keep = np.flatnonzero((values >= score_threshold) & (values > 0.0))
    best = keep[np.argsort(-values[keep], kind="stable")[:max_num_results]]
    return [Hit(int(index), round(float(values[index]), 6)) for index in best]
