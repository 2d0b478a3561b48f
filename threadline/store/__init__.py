"""Storage: the `Store` protocol and the backend a database URL names."""

from __future__ import annotations

from threadline.store.base import Page, Store
from threadline.store.memory import MemoryStore

__all__ = ["MemoryStore", "Page", "Store", "open_store"]


async def open_store(url: str, connections: int | None = None) -> Store:
    """Open (and migrate) the store a URL names: `memory://`, `postgresql://...`,
    `sqlite:///path` or a plain file path; on PostgreSQL with at most `connections` open
    at once (the default: `postgres.CONNECTIONS`)."""
    if url == "memory://":
        return MemoryStore()
    from threadline.store.postgres import CONNECTIONS
    from threadline.store.sql import open_sql_store

    return await open_sql_store(url, connections=connections or CONNECTIONS)
