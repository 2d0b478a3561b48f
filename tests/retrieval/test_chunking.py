from __future__ import annotations

import random
from typing import Any

import pytest

from threadline.retrieval.chunking import Chunk, ChunkingStrategy, ChunkingStrategyError, chunk_text
from threadline.runs.tokens import count_text

PROSE = " ".join(
    f"Sentence number {i} talks about topic {i % 7} in plain words." for i in range(400)
)


def _covers(text: str, chunks: list[Chunk]) -> bool:
    """Whether the chunks, in order, are substrings that together cover `text`."""
    position = 0
    for chunk in chunks:
        start = text.find(chunk.text, max(position - len(chunk.text), 0))
        if start < 0 or start > position:
            return False
        position = start + len(chunk.text)
    return position == len(text)


def test_empty_and_blank_text_make_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("hello world") == [Chunk("hello world", 2, 0)]


def test_defaults_are_800_tokens_with_400_overlap() -> None:
    chunks = chunk_text(PROSE)
    total = count_text(PROSE)
    assert all(chunk.token_count <= 800 for chunk in chunks)
    assert chunks[0].token_count > 700  # ends near the limit, at a boundary
    # Each window starts 400 tokens before the previous ended.
    assert sum(chunk.token_count for chunk in chunks) - 400 * (len(chunks) - 1) == total
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert _covers(PROSE, chunks)


@pytest.mark.parametrize(("size", "overlap"), [(100, 0), (100, 50), (256, 64), (4096, 2048)])
def test_windows_respect_size_and_overlap(size: int, overlap: int) -> None:
    chunks = chunk_text(PROSE, size, overlap)
    assert all(0 < chunk.token_count <= size for chunk in chunks)
    assert all(count_text(chunk.text) <= size for chunk in chunks)
    assert sum(c.token_count for c in chunks) - overlap * (len(chunks) - 1) == count_text(PROSE)
    assert _covers(PROSE, chunks)


def test_chunks_end_at_sentence_boundaries_when_near() -> None:
    chunks = chunk_text(PROSE, 100, 20)
    assert all(chunk.text.endswith(".") for chunk in chunks)


def test_paragraph_break_beats_sentence_end() -> None:
    sentence = "A short sentence here."
    text = " ".join([sentence] * 18) + "\n\n" + " ".join([sentence] * 40)  # break at token 90
    first = chunk_text(text, 100, 0)[0]
    assert first.text.endswith(".\n\n")
    assert first.token_count == 90  # 2 sentence ends came later, in the last eighth too


def test_text_without_boundaries_is_cut_at_the_limit() -> None:
    text = "x" * 5000
    chunks = chunk_text(text, 100, 0)
    assert "".join(chunk.text for chunk in chunks) == text
    assert all(chunk.token_count == 100 for chunk in chunks[:-1])


@pytest.mark.timeout(10)
@pytest.mark.parametrize("run", ["x" * 200_000, "日本語のテキスト。" * 20_000, "=" * 100_000])
def test_long_runs_without_spaces_stay_fast(run: str) -> None:
    chunks = chunk_text(f"Intro text. {run} Outro.", 400, 0)
    assert "".join(chunk.text for chunk in chunks) == f"Intro text. {run} Outro."
    assert all(chunk.token_count <= 400 for chunk in chunks)


def test_runs_up_to_the_slice_length_encode_as_a_whole() -> None:
    word = "abcdefgh" * 32  # 256 letters: one pre-token, encoded whole
    assert sum(chunk.token_count for chunk in chunk_text(word, 100, 0)) == count_text(word)


def test_multibyte_characters_are_never_split() -> None:
    rng = random.Random(7)
    words = ["naïve", "日本語のテキスト", "emoji😀🎉", "über", "straße", "a.", "\n\n", "Ωμέγα"]
    for _ in range(30):
        text = "".join(rng.choice(words) for _ in range(rng.randint(100, 800)))
        chunks = chunk_text(text, 100, rng.choice([0, 10, 50]))
        assert all("\ufffd" not in chunk.text and chunk.text in text for chunk in chunks)
        assert all(count_text(chunk.text) <= 100 for chunk in chunks)
        assert _covers(text, chunks)


def test_default_strategy_and_auto() -> None:
    default = ChunkingStrategy()
    assert (
        default
        == ChunkingStrategy.from_param(None)
        == ChunkingStrategy.from_param({"type": "auto"})
    )
    assert default.as_param() == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }


def test_static_strategy_is_parsed() -> None:
    param = {"type": "static", "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 10}}
    strategy = ChunkingStrategy.from_param(param)
    assert strategy == ChunkingStrategy(300, 10)
    assert strategy.as_param() == param
    assert strategy.split(PROSE) == chunk_text(PROSE, 300, 10)


@pytest.mark.parametrize(
    ("size", "overlap", "param", "message"),
    [
        (99, 0, "max_chunk_size_tokens", "integer below minimum value. Expected a value >= 100, "
         "but got 99 instead."),
        (4097, 0, "max_chunk_size_tokens", "integer above maximum value. Expected a value "
         "<= 4096, but got 4097 instead."),
        (800, -1, "chunk_overlap_tokens", "integer below minimum value. Expected a value >= 0, "
         "but got -1 instead."),
        (800, 401, "chunk_overlap_tokens", "chunk_overlap_tokens (401) must not exceed half of "
         "max_chunk_size_tokens (800)."),
    ],
)  # fmt: skip
def test_strategy_limits(size: int, overlap: int, param: str, message: str) -> None:
    with pytest.raises(ChunkingStrategyError) as caught:
        ChunkingStrategy(size, overlap)
    full = f"chunking_strategy.static.{param}"
    assert caught.value.param == full
    assert str(caught.value) == f"Invalid '{full}': {message}"
    assert isinstance(caught.value, ValueError)


def test_chunk_text_validates_like_the_strategy() -> None:
    with pytest.raises(ValueError, match="must not exceed half"):
        chunk_text("text", 100, 51)
    assert chunk_text("text", 101, 50) == [Chunk("text", 1, 0)]


@pytest.mark.parametrize(
    ("param", "field", "message"),
    [
        ({"type": "dynamic"}, "chunking_strategy.type", "Invalid value: 'dynamic'. Supported "
         "values are: 'auto' and 'static'."),
        ({"type": "static"}, "chunking_strategy.static", "Missing required parameter: "
         "'chunking_strategy.static'."),
        ({"type": "static", "static": {"max_chunk_size_tokens": 200}},
         "chunking_strategy.static.chunk_overlap_tokens", "Missing required parameter: "
         "'chunking_strategy.static.chunk_overlap_tokens'."),
        ({"type": "static", "static": {"max_chunk_size_tokens": "200", "chunk_overlap_tokens": 0}},
         "chunking_strategy.static.max_chunk_size_tokens", "Invalid type for "
         "'chunking_strategy.static.max_chunk_size_tokens': expected an integer, but got a "
         "string instead."),
        ({"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": True}},
         "chunking_strategy.static.chunk_overlap_tokens", "Invalid type for "
         "'chunking_strategy.static.chunk_overlap_tokens': expected an integer, but got 'bool' "
         "instead."),
    ],
)  # fmt: skip
def test_from_param_errors(param: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ChunkingStrategyError) as caught:
        ChunkingStrategy.from_param(param)
    assert caught.value.param == field
    assert str(caught.value) == message
