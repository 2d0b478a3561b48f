"""`sql_exec`: statements run on the driver's cursor (sqlite3's; SQLAlchemy's asyncpg
adapter's) give what SQLAlchemy gives, raise what it raises, take part in its transactions
and fall back to it where the driver alone would not do. Each check runs on SQLite and, where
`THREADLINE_TEST_POSTGRES_URL` is set, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    MetaData,
    Table,
    Text,
    bindparam,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from threadline.store import sql_exec
from threadline.store.postgres import asyncpg_url

from .conftest import create_database, drop_database, server_url

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Text, primary_key=True),
    Column("size", BigInteger, nullable=False, server_default="7"),
    Column("weight", Double, nullable=True),
    Column("note", Text, nullable=True),
)
INSERT = insert(items)
BY_ID = select(items.c.size, items.c.weight, items.c.note).where(items.c.id == bindparam("p_id"))
ALL_IDS = select(items.c.id).order_by(items.c.id)
IN_LIST = select(items.c.id).where(items.c.id.in_(bindparam("p_ids", expanding=True)))
HEAVIER = update(items).where(items.c.id == bindparam("p_id")).values(weight=bindparam("p_w"))
CLEARED = update(items).values(note=None)
NOTED = (
    update(items)
    .where(items.c.id.in_(bindparam("p_ids", expanding=True)))
    .values(note=bindparam("p_note"))
)


Check = Callable[[Connection], Any]


class Database:
    """The items table on one backend; `run(check)` runs `check` on a connection in a
    transaction, rolled back afterwards (committed with `commit`), as the store runs its
    work (on PostgreSQL inside `run_sync`: the driver is reached through SQLAlchemy's
    greenlet)."""

    def __init__(self, engine: Engine | AsyncEngine) -> None:
        self.engine = engine

    async def run(self, check: Check, *, commit: bool = False) -> Any:
        if isinstance(self.engine, Engine):
            with self.engine.connect() as conn:
                transaction = conn.begin()
                try:
                    return check(conn)
                finally:
                    if commit:
                        transaction.commit()
                    else:
                        transaction.rollback()
        async with self.engine.connect() as aconn:
            begun = await aconn.begin()
            try:
                return await aconn.run_sync(check)
            finally:
                if commit:
                    await begun.commit()
                else:
                    await begun.rollback()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", poolclass=NullPool)
        metadata.create_all(engine)
        yield Database(engine)
        engine.dispose()
        return
    server = server_url()
    url = await create_database(server)
    aengine = create_async_engine(asyncpg_url(url))
    try:
        async with aengine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield Database(aengine)
    finally:
        await aengine.dispose()
        await drop_database(server, url)


def _sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


async def test_an_insert_takes_the_columns_it_is_given(db: Database) -> None:
    """As SQLAlchemy does: a column left out keeps its server default."""

    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, {"id": "a"})
        sql_exec.write(conn, INSERT, {"id": "b", "size": 3, "note": "n"})
        assert tuple(sql_exec.first(conn, BY_ID, {"p_id": "a"})) == (7, None, None)
        assert tuple(sql_exec.first(conn, BY_ID, {"p_id": "b"})) == (3, None, "n")

    await db.run(check)


async def test_many_rows_at_once(db: Database) -> None:
    """The count is SQLAlchemy's: the rows on SQLite, -1 (unknown) on PostgreSQL."""

    def check(conn: Connection) -> None:
        through_sqlalchemy = conn.execute(INSERT, [{"id": "x0"}, {"id": "x1"}, {"id": "x2"}])
        rows = [{"id": f"r{i}", "size": i} for i in range(3)]
        assert sql_exec.write(conn, INSERT, rows) == through_sqlalchemy.rowcount
        assert sql_exec.scalars(conn, ALL_IDS) == ["r0", "r1", "r2", "x0", "x1", "x2"]

    await db.run(check)


async def test_values_are_converted_as_sqlalchemy_converts_them(db: Database) -> None:
    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, {"id": "a"})
        assert sql_exec.write(conn, HEAVIER, {"p_id": "a", "p_w": 2}) == 1
        weight = sql_exec.first(conn, BY_ID, {"p_id": "a"})[1]
        assert (weight, type(weight)) == (2.0, float)

    await db.run(check)


async def test_constants_in_the_statement_are_kept(db: Database) -> None:
    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, {"id": "a", "note": "x"})
        assert sql_exec.write(conn, CLEARED) == 1
        assert sql_exec.first(conn, BY_ID, {"p_id": "a"})[2] is None

    await db.run(check)


async def test_an_expanding_list_has_one_placeholder_per_value(db: Database) -> None:
    """On SQLite on the cursor, not through SQLAlchemy (on PostgreSQL through it); lists
    of any length, none included, each with its own SQL."""

    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, [{"id": "a"}, {"id": "b"}, {"id": "c"}])
        form = sql_exec._prepared(IN_LIST).on_driver(conn.dialect, {"p_ids": []})
        assert (form is not None) == _sqlite(conn)
        assert sorted(sql_exec.scalars(conn, IN_LIST, {"p_ids": ["a", "c"]})) == ["a", "c"]
        everything = sql_exec.scalars(conn, IN_LIST, {"p_ids": ["c", "b", "a"]})
        assert sorted(everything) == ["a", "b", "c"]
        assert sql_exec.scalars(conn, IN_LIST, {"p_ids": ("b",)}) == ["b"]
        assert sql_exec.scalars(conn, IN_LIST, {"p_ids": []}) == []

    await db.run(check)


async def test_an_expanding_list_of_values_to_convert_goes_through_sqlalchemy(
    db: Database,
) -> None:
    by_weight = select(items.c.id).where(items.c.weight.in_(bindparam("p_ws", expanding=True)))

    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, [{"id": "a", "weight": 1.0}, {"id": "b", "weight": 2.5}])
        assert sql_exec._prepared(by_weight).on_driver(conn.dialect, {"p_ws": [1]}) is None
        assert sql_exec.scalars(conn, by_weight, {"p_ws": [2.5]}) == ["b"]

    await db.run(check)


async def test_an_expanding_list_among_other_values(db: Database) -> None:
    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, [{"id": i, "note": "n"} for i in "abcd"])
        assert sql_exec.write(conn, NOTED, {"p_note": "m", "p_ids": ["a", "b"]}) == 2
        changed = sql_exec.write(
            conn, NOTED, [{"p_note": "o", "p_ids": ["c"]}, {"p_note": "p", "p_ids": ["a", "d"]}]
        )
        assert changed == 3
        notes = {i: sql_exec.first(conn, BY_ID, {"p_id": i})[2] for i in "abcd"}
        assert notes == {"a": "p", "b": "m", "c": "o", "d": "p"}

    await db.run(check)


async def test_nothing_found_is_none(db: Database) -> None:
    def check(conn: Connection) -> None:
        assert sql_exec.first(conn, BY_ID, {"p_id": "nope"}) is None
        assert sql_exec.scalar(conn, BY_ID, {"p_id": "nope"}) is None
        assert sql_exec.rows(conn, ALL_IDS) == []

    await db.run(check)


async def test_driver_errors_are_sqlalchemys(db: Database) -> None:
    def check(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, {"id": "a"})
        with pytest.raises(IntegrityError):
            sql_exec.write(conn, INSERT, {"id": "a"})

    await db.run(check)


async def test_a_missing_value_is_refused(db: Database) -> None:
    def check(conn: Connection) -> None:
        with pytest.raises(KeyError):
            sql_exec.first(conn, BY_ID, {})

    await db.run(check)


async def test_writes_belong_to_the_transaction_sqlalchemy_began(db: Database) -> None:
    """On the driver's cursor a write is part of SQLAlchemy's transaction (on PostgreSQL
    the adapter begins it at the first statement): rolled back, it is gone; committed, it
    stays, as for a write through SQLAlchemy."""

    def undone(conn: Connection) -> None:
        sql_exec.write(conn, INSERT, {"id": "gone"})
        assert sql_exec.scalars(conn, ALL_IDS) == ["gone"]

    await db.run(undone)  # Database.run rolls back

    await db.run(lambda conn: sql_exec.write(conn, INSERT, {"id": "kept"}), commit=True)
    assert await db.run(lambda conn: sql_exec.scalars(conn, ALL_IDS)) == ["kept"]


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_a_connection_lost_on_the_driver_is_invalidated(db: Database) -> None:
    """As under `Connection.execute`: the error is SQLAlchemy's, saying the connection was
    invalidated, and the pool hands out a working connection next."""
    assert isinstance(db.engine, AsyncEngine)

    def lost(conn: Connection) -> None:
        with pytest.raises(DBAPIError) as raised:
            sql_exec.first(conn, BY_ID, {"p_id": "a"})
        assert raised.value.connection_invalidated

    async with db.engine.connect() as doomed:
        pid = await doomed.scalar(text("SELECT pg_backend_pid()"))
        async with db.engine.connect() as other:
            ended = text("SELECT pg_terminate_backend(:pid)")
            assert await other.scalar(ended, {"pid": pid})
            # The backend takes a moment to exit: wait until the server no longer lists it.
            gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
            for _ in range(500):
                if await other.scalar(gone, {"pid": pid}):
                    break
                await asyncio.sleep(0.01)
        await doomed.run_sync(lost)
    assert await db.run(lambda conn: sql_exec.rows(conn, ALL_IDS)) == []


def test_a_statement_serves_each_dialect_in_its_own_way(tmp_path: Path) -> None:
    """Module-level statements serve SQLite and PostgreSQL stores in one process: each
    driver gets a form compiled for its own placeholders, never the other's."""
    postgresql = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1/none").dialect
    sqlite = create_engine(f"sqlite:///{tmp_path / 'x.db'}").dialect
    prepared = sql_exec._prepared(BY_ID)
    on_postgresql = prepared.on_driver(postgresql, {"p_id": "a"})
    on_sqlite = prepared.on_driver(sqlite, {"p_id": "a"})
    assert on_postgresql is not None
    assert on_sqlite is not None
    assert ("$1" in on_postgresql.sql, "?" in on_postgresql.sql) == (True, False)
    assert ("$1" in on_sqlite.sql, "?" in on_sqlite.sql) == (False, True)
