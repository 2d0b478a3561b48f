from __future__ import annotations

import math

import numpy as np
import pytest

from threadline.retrieval.ranking import (
    RRF_K,
    BM25Index,
    Hit,
    cosine_scores,
    hybrid_scores,
    reciprocal_rank_fusion,
    select,
    tokenize,
    validate_ranking_options,
    weighted_fusion,
)

DOCS = [
    "The cat sat on the mat.",
    "Dogs and cats are popular pets.",
    "Stock markets fell sharply on Monday.",
    "The cat chased the other cats around the garden all day long.",
]


def test_tokenize_lowercases_stems_and_drops_stopwords() -> None:
    assert tokenize("The Cats were RUNNING to the parties!") == ["cat", "runn", "party"]
    assert tokenize("glass bus analysis") == ["glass", "bus", "analysis"]


def test_bm25_matches_the_formula() -> None:
    index = BM25Index(DOCS)
    scores = index.scores("cat")
    terms = [tokenize(doc) for doc in DOCS]
    average = sum(len(t) for t in terms) / len(terms)
    idf = math.log(1 + (4 - 3 + 0.5) / (3 + 0.5))  # 3 of the 4 texts mention a cat

    def expected(words: list[str]) -> float:
        tf = words.count("cat")
        return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / average))

    np.testing.assert_allclose(scores, [expected(words) for words in terms])
    assert scores[2] == 0.0
    assert terms[3].count("cat") == 2
    assert len(index) == 4


def test_bm25_rare_terms_weigh_more_and_unknown_terms_score_nothing() -> None:
    index = BM25Index(DOCS)
    assert int(np.argmax(index.scores("markets cat"))) == 2
    assert not index.scores("zebra").any()
    assert not index.scores("the and").any()  # stopwords only
    assert BM25Index([]).scores("cat").shape == (0,)
    assert not BM25Index(["", ""]).scores("cat").any()


def test_cosine_scores() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(cosine_scores(np.array([1.0, 0.0]), vectors), [1.0, 0.0, -1.0])
    assert cosine_scores(np.array([1.0, 0.0]), np.zeros((0, 2))).shape == (0,)


def test_rrf_is_scaled_to_one_for_a_double_first_place() -> None:
    vector = np.array([0.9, 0.5, 0.1])
    text = np.array([3.0, 0.0, 1.0])
    fused = reciprocal_rank_fusion([vector, text])
    best = 2 / (RRF_K + 1)
    expected = [1.0, (1 / (RRF_K + 2)) / best, (1 / (RRF_K + 3) + 1 / (RRF_K + 2)) / best]
    np.testing.assert_allclose(fused, expected)
    assert fused.max() <= 1.0


def test_rrf_first_place_in_one_list_only_scores_half() -> None:
    fused = reciprocal_rank_fusion([np.array([1.0, 0.0]), np.array([0.0, 0.0])])
    np.testing.assert_allclose(fused, [0.5, 0.0])
    with pytest.raises(ValueError, match="at least one"):
        reciprocal_rank_fusion([])


def test_weighted_fusion_mixes_clipped_cosine_and_relative_bm25() -> None:
    fused = weighted_fusion(np.array([0.8, -0.3, 0.2]), np.array([2.0, 4.0, 0.0]), alpha=0.25)
    np.testing.assert_allclose(fused, [0.25 * 0.8 + 0.75 * 0.5, 0.75, 0.25 * 0.2])
    np.testing.assert_allclose(weighted_fusion(np.array([0.5]), np.array([0.0])), [0.25])
    with pytest.raises(ValueError, match="alpha"):
        weighted_fusion(np.array([0.5]), np.array([0.0]), alpha=1.5)


def test_hybrid_scores_single_sources_are_in_unit_range() -> None:
    np.testing.assert_allclose(hybrid_scores(np.array([1.2, -0.5, 0.4]), None), [1.0, 0.0, 0.4])
    np.testing.assert_allclose(hybrid_scores(None, np.array([2.0, 1.0])), [1.0, 0.5])
    np.testing.assert_allclose(hybrid_scores(None, np.zeros(2)), [0.0, 0.0])
    both = hybrid_scores(np.array([0.3, 0.9]), np.array([1.0, 0.0]), ranker="weighted")
    np.testing.assert_allclose(both, [0.65, 0.45])
    assert hybrid_scores(np.array([0.3, 0.9]), np.array([1.0, 0.0]))[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="needs vector scores"):
        hybrid_scores(None, None)


def test_select_orders_limits_and_thresholds() -> None:
    scores = np.array([0.2, 0.9, 0.0, 0.55, 0.9, 0.7])
    assert select(scores) == [Hit(1, 0.9), Hit(4, 0.9), Hit(5, 0.7), Hit(3, 0.55), Hit(0, 0.2)]
    assert select(scores, max_num_results=2) == [Hit(1, 0.9), Hit(4, 0.9)]
    assert select(scores, score_threshold=0.55) == [
        Hit(1, 0.9),
        Hit(4, 0.9),
        Hit(5, 0.7),
        Hit(3, 0.55),
    ]
    assert select(scores, score_threshold=1.0) == []
    assert select(np.zeros(0)) == []


def test_select_defaults_to_twenty_results() -> None:
    assert len(select(np.linspace(1.0, 0.01, 60))) == 20
    assert len(select(np.linspace(1.0, 0.01, 60), max_num_results=50)) == 50


@pytest.mark.parametrize(("count", "threshold"), [(0, 0.0), (51, 0.0), (5, -0.1), (5, 1.1)])
def test_ranking_option_limits(count: int, threshold: float) -> None:
    with pytest.raises(ValueError, match="Invalid '"):
        validate_ranking_options(count, threshold)


def test_hybrid_prefers_what_both_searches_rank_well() -> None:
    # Vector search puts chunk 0 first, full text chunk 2; both put chunk 1 second.
    vector = np.array([0.9, 0.8, 0.1, 0.5, 0.4])
    texts = ["unrelated words", "the zebra crossing", "zebra zebra zebra", "none", "none"]
    text = BM25Index(texts).scores("zebra")
    hits = select(hybrid_scores(vector, text), max_num_results=3)
    assert [hit.index for hit in hits] == [1, 2, 0]
    assert all(0.0 < hit.score <= 1.0 for hit in hits)
