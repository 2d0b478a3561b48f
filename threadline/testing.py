"""Test helpers that ship with Threadline: an application over the in-memory store."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from threadline.app import create_app
from threadline.config import Settings
from threadline.store.memory import MemoryStore

__all__ = ["memory_app"]


def memory_app(**settings: Any) -> Starlette:
    """The full application over a fresh `MemoryStore`; `settings` override defaults."""
    return create_app(Settings(**settings), store=MemoryStore())
