"""`sql_exec`: statements run on the sqlite3 cursor give what SQLAlchemy gives, raise what
it raises, and fall back to it where the driver alone would not do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from threadline.store import sql_exec

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


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", poolclass=NullPool)
    metadata.create_all(engine)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_an_insert_takes_the_columns_it_is_given(conn: Connection) -> None:
    """As SQLAlchemy does: a column left out keeps its server default."""
    sql_exec.write(conn, INSERT, {"id": "a"})
    sql_exec.write(conn, INSERT, {"id": "b", "size": 3, "note": "n"})
    assert sql_exec.first(conn, BY_ID, {"p_id": "a"}) == (7, None, None)
    assert sql_exec.first(conn, BY_ID, {"p_id": "b"}) == (3, None, "n")


def test_many_rows_at_once(conn: Connection) -> None:
    rows = [{"id": f"r{i}", "size": i} for i in range(3)]
    assert sql_exec.write(conn, INSERT, rows) == 3
    assert sql_exec.scalars(conn, ALL_IDS) == ["r0", "r1", "r2"]


def test_values_are_converted_as_sqlalchemy_converts_them(conn: Connection) -> None:
    sql_exec.write(conn, INSERT, {"id": "a"})
    assert sql_exec.write(conn, HEAVIER, {"p_id": "a", "p_w": 2}) == 1
    weight = sql_exec.first(conn, BY_ID, {"p_id": "a"})[1]
    assert (weight, type(weight)) == (2.0, float)


def test_constants_in_the_statement_are_kept(conn: Connection) -> None:
    sql_exec.write(conn, INSERT, {"id": "a", "note": "x"})
    assert sql_exec.write(conn, CLEARED) == 1
    assert sql_exec.first(conn, BY_ID, {"p_id": "a"})[2] is None


def test_an_expanding_list_has_one_placeholder_per_value(conn: Connection) -> None:
    """On the cursor, not through SQLAlchemy; lists of any length, none included, each
    with its own SQL."""
    sql_exec.write(conn, INSERT, [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    assert sql_exec._prepared(IN_LIST).on_driver(conn.dialect, {"p_ids": []}) is not None
    assert sorted(sql_exec.scalars(conn, IN_LIST, {"p_ids": ["a", "c"]})) == ["a", "c"]
    assert sorted(sql_exec.scalars(conn, IN_LIST, {"p_ids": ["c", "b", "a"]})) == ["a", "b", "c"]
    assert sql_exec.scalars(conn, IN_LIST, {"p_ids": ("b",)}) == ["b"]
    assert sql_exec.scalars(conn, IN_LIST, {"p_ids": []}) == []


def test_an_expanding_list_of_values_to_convert_goes_through_sqlalchemy(
    conn: Connection,
) -> None:
    by_weight = select(items.c.id).where(items.c.weight.in_(bindparam("p_ws", expanding=True)))
    sql_exec.write(conn, INSERT, [{"id": "a", "weight": 1.0}, {"id": "b", "weight": 2.5}])
    assert sql_exec._prepared(by_weight).on_driver(conn.dialect, {"p_ws": [1]}) is None
    assert sql_exec.scalars(conn, by_weight, {"p_ws": [2.5]}) == ["b"]


def test_an_expanding_list_among_other_values(conn: Connection) -> None:
    sql_exec.write(conn, INSERT, [{"id": i, "note": "n"} for i in "abcd"])
    assert sql_exec.write(conn, NOTED, {"p_note": "m", "p_ids": ["a", "b"]}) == 2
    changed = sql_exec.write(
        conn, NOTED, [{"p_note": "o", "p_ids": ["c"]}, {"p_note": "p", "p_ids": ["a", "d"]}]
    )
    assert changed == 3
    notes = {i: sql_exec.first(conn, BY_ID, {"p_id": i})[2] for i in "abcd"}
    assert notes == {"a": "p", "b": "m", "c": "o", "d": "p"}


def test_nothing_found_is_none(conn: Connection) -> None:
    assert sql_exec.first(conn, BY_ID, {"p_id": "nope"}) is None
    assert sql_exec.scalar(conn, BY_ID, {"p_id": "nope"}) is None
    assert sql_exec.rows(conn, ALL_IDS) == []


def test_driver_errors_are_sqlalchemys(conn: Connection) -> None:
    sql_exec.write(conn, INSERT, {"id": "a"})
    with pytest.raises(IntegrityError):
        sql_exec.write(conn, INSERT, {"id": "a"})


def test_a_missing_value_is_refused(conn: Connection) -> None:
    with pytest.raises(KeyError):
        sql_exec.first(conn, BY_ID, {})


def test_a_statement_serves_each_dialect_in_its_own_way(conn: Connection) -> None:
    """Module-level statements serve SQLite and PostgreSQL stores in one process: a form
    compiled for the sqlite3 cursor is never handed to another driver."""
    sql_exec.write(conn, INSERT, {"id": "a"})
    assert sql_exec.first(conn, BY_ID, {"p_id": "a"}) == (7, None, None)
    prepared = sql_exec._prepared(BY_ID)
    postgresql = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1/none").dialect
    assert prepared.on_driver(postgresql, {"p_id": "a"}) is None
    assert prepared.on_driver(conn.dialect, {"p_id": "a"}) is not None
