"""Which database a URL names."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.store.postgres import asyncpg_url, is_postgres_url
from threadline.store.sqlite import sqlite_path


@pytest.mark.parametrize(
    "url",
    ["postgres://u@h/db", "postgresql://u:p@h:5433/db", "postgresql+psycopg://u@h/db"],
)
def test_postgres_urls_become_asyncpg(url: str) -> None:
    assert is_postgres_url(url)
    parsed = asyncpg_url(url)
    assert parsed.drivername == "postgresql+asyncpg"
    assert parsed.database == "db"


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    parsed = asyncpg_url("postgresql://u@h/db?sslmode=require")
    assert dict(parsed.query) == {"ssl": "require"}


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("data/threadline.db", Path("data/threadline.db")),
        ("/var/lib/t.db", Path("/var/lib/t.db")),
        ("sqlite:///rel/t.db", Path("rel/t.db")),
        ("sqlite:////abs/t.db", Path("/abs/t.db")),
        ("sqlite+aiosqlite:///t.db", Path("t.db")),
    ],
)
def test_sqlite_paths(url: str, path: Path) -> None:
    assert not is_postgres_url(url)
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_sqlite_memory_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="memory://"):
        sqlite_path(url)
