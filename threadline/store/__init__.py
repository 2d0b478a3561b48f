"""Storage: the `Store` protocol and the backend a database URL names."""

from __future__ import annotations

from threadline.store.base import Page, Store
from threadline.store.memory import MemoryStore

__all__ = ["MemoryStore", "Page", "Store", "open_store"]


async def open_store(url: str) -> Store:
    """Open (and migrate) the store a URL names: `memory://`, `postgresql://...`,
    `sqlite:///path` or a plain file path."""
    if url == "memory://":
        return MemoryStore()
    from threadline.store.sql import open_sql_store

    return await open_sql_store(url)
