"""Migrations: they build exactly the schema `schema.py` describes, once, even when
several processes start together."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.protocol.common import ListQuery
from threadline.store import open_store
from threadline.store.postgres import asyncpg_url, is_postgres_url
from threadline.store.schema import metadata
from threadline.store.sql import MIGRATIONS, migrate
from threadline.store.sqlite import sqlite_path
from threadline.store.vector_index import is_index_table

from .conftest import POSTGRES_ENV, create_database, drop_database
from .test_contract import assistant, message, thread
from .test_contract_vector_search import chunks_of, ingest, unit
from .test_contract_vector_stores import vector_store, vs_file

T = TypeVar("T")


async def _on(url: str, work: Callable[[Connection], T]) -> T:
    """`work` on a connection of its own to the database a URL names."""
    if is_postgres_url(url):
        engine = create_async_engine(asyncpg_url(url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()
    sqlite = create_engine(URL.create("sqlite+pysqlite", database=str(sqlite_path(url))))
    try:
        with sqlite.connect() as conn:
            return work(conn)
    finally:
        sqlite.dispose()


def _declared(name: str | None, type_: str, _parent: Any) -> bool:
    """Leave out the vector index, kept outside the declared schema (`vector_index.py`)."""
    return not is_index_table(name)


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"include_name": _declared})
    return list(compare_metadata(context, metadata))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def _inspect(url: str) -> tuple[list[Any], str | None]:
    """The differences from `schema.metadata`, and the revision the database is at."""
    return await _on(url, lambda conn: (_diffs(conn), _current(conn)))


def _head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


async def test_migrated_schema_matches_metadata(fresh_sql_url: str) -> None:
    await migrate(fresh_sql_url)
    assert await _inspect(fresh_sql_url) == ([], _head())


async def test_migrating_again_changes_nothing(fresh_sql_url: str) -> None:
    store = await open_store(fresh_sql_url)  # migrates
    kept = assistant()
    try:
        await store.insert_assistant(kept)
    finally:
        await store.close()
    await migrate(fresh_sql_url)
    await migrate(fresh_sql_url)
    assert await _inspect(fresh_sql_url) == ([], _head())
    store = await open_store(fresh_sql_url)
    try:
        assert (await store.list_assistants(ListQuery())).data == [kept]
    finally:
        await store.close()


async def test_the_vector_index_stays_out_of_the_schema(fresh_sql_url: str) -> None:
    """sqlite-vec's tables and pgvector's, made once chunks are stored, are no part of the
    declared schema, and migrating again leaves them be."""
    store = await open_store(fresh_sql_url)
    vs = vector_store()
    file = vs_file(vs.id)
    try:
        await store.insert_vector_store(vs, [file])
        await ingest(store, file, chunks_of(file, [unit(1, 0, 0, 0)]))
    finally:
        await store.close()
    await migrate(fresh_sql_url)
    assert await _inspect(fresh_sql_url) == ([], _head())
    store = await open_store(fresh_sql_url)
    try:
        found = await store.nearest_chunks([vs.id], "test-model", unit(1, 0, 0, 0), 5)
        assert [n.file_id for n in found] == [file.id]
    finally:
        await store.close()


@asynccontextmanager
async def _built_from_metadata(like: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the same kind as `like`, its schema created from `schema.py`."""
    if is_postgres_url(like):
        server = os.environ[POSTGRES_ENV]
        url = await create_database(server)
    else:
        url = str(tmp_path / "built" / "threadline.db")
        sqlite_path(url).parent.mkdir()
    try:
        await _on(url, _create_all)
        yield url
    finally:
        if is_postgres_url(like):
            await drop_database(server, url)


def _create_all(conn: Connection) -> None:
    metadata.create_all(conn)
    conn.commit()


def _indexes(conn: Connection) -> dict[str, str]:
    if conn.dialect.name == "postgresql":
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    rows = conn.execute(text(query))
    return {
        name: definition
        for name, definition in rows
        if name != "alembic_version_pkc" and not is_index_table(name)
    }


async def _index_definitions(url: str) -> dict[str, str]:
    """Each index's definition as the database itself reports it."""
    return await _on(url, _indexes)


async def test_migrated_indexes_match_metadata(fresh_sql_url: str, tmp_path: Path) -> None:
    """`compare_metadata` overlooks the condition of a partial index (the thread lock's,
    the queue's): compare the definitions the database keeps."""
    await migrate(fresh_sql_url)
    async with _built_from_metadata(fresh_sql_url, tmp_path) as built:
        expected = await _index_definitions(built)
    assert await _index_definitions(fresh_sql_url) == expected
    assert "ix_runs_active_thread_id" in expected


async def test_concurrent_migrations(fresh_sql_url: str) -> None:
    await asyncio.gather(*(migrate(fresh_sql_url) for _ in range(3)))
    assert await _inspect(fresh_sql_url) == ([], _head())


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/dir/x.db"
    store = await open_store(url)
    await store.close()
    mode = await _on(url, lambda conn: conn.execute(text("PRAGMA journal_mode")).scalar())
    assert mode == "wal"


def _upgrade_to(revision: str) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()

    return work


async def test_a_history_written_before_revisions_reads_after_them(fresh_sql_url: str) -> None:
    """Messages stored before 0006 get revision 0 and read, and change, as any other."""
    if not is_postgres_url(fresh_sql_url):
        sqlite_path(fresh_sql_url).parent.mkdir(parents=True, exist_ok=True)
    await _on(fresh_sql_url, _upgrade_to("0005"))
    t = thread()
    older = [message(t.id, f"m{i}") for i in range(3)]

    def write(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO threads (id, seq, created_at, data) VALUES (:id, 1, 1, :data)"),
            {"id": t.id, "data": t.model_dump_json()},
        )
        for seq, m in enumerate(older, start=2):
            conn.execute(
                text(
                    "INSERT INTO messages (id, seq, created_at, data, thread_id) "
                    "VALUES (:id, :seq, 1, :data, :thread_id)"
                ),
                {"id": m.id, "seq": seq, "data": m.model_dump_json(), "thread_id": t.id},
            )
        conn.commit()

    await _on(fresh_sql_url, write)
    await migrate(fresh_sql_url)
    assert await _inspect(fresh_sql_url) == ([], _head())
    store = await open_store(fresh_sql_url)
    try:
        assert await store.thread_history(t.id) == older
        edited = older[1].model_copy(update={"metadata": {"k": "v"}})
        assert await store.replace_message(edited)
        assert await store.thread_history(t.id) == [older[0], edited, older[2]]
    finally:
        await store.close()
