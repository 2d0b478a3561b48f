"""What every part of the SQL store shares: the `Database` an engine setup provides, the
statements each table has, pagination by `seq`, and one-transaction helpers.

Each store call's database work is one synchronous function over a SQLAlchemy
`Connection`, handed whole to the `Database`: SQLite runs it on a thread of its own,
PostgreSQL on an asyncpg connection through `run_sync`. So a call costs one hop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Insert,
    Select,
    Table,
    Text,
    Update,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Connection

from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.store import schema, sql_exec
from threadline.store.base import Page
from threadline.store.sql_pages import EVERYTHING, Scope, backwards, page_rows, storable
from threadline.store.vector_index import VectorIndex

__all__ = [
    "Database",
    "SQLBase",
    "Statements",
    "equals",
    "message_row",
    "next_seq",
    "object_row",
    "storable",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Database(Protocol):
    """What the store needs from an engine setup (`sqlite.py`, `postgres.py`): each
    method runs `work` on a connection of its own and returns what `work` returns, or
    raises what it raises."""

    @property
    def computes_seq(self) -> bool:
        """True when inserts compute `seq` themselves (SQLite has no sequences)."""
        ...

    @property
    def vectors(self) -> VectorIndex:
        """How it finds the chunks nearest to a vector (known once migrations ran)."""
        ...

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Reads only, each statement seeing the last committed state."""
        ...

    @property
    def inline_reads(self) -> bool:
        """True when `lookup` reads at once on the calling thread (SQLite)."""
        ...

    async def lookup(self, work: Callable[[Connection], T]) -> T:
        """A read of a few rows by key, as `read`; SQLite does it at once on the calling
        thread where it need not wait."""
        ...

    async def write(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        """One transaction: committed when `work` returns, rolled back when it raises.
        SQLite does it at once on the calling thread where it need not wait, unless it is
        `bulk` (it may touch many rows: a cascade, a file's chunks), alone or in one
        transaction with the other writes of its turn of the event loop (each under a
        savepoint). Done there, `work` may run twice (the first time refused part way and
        rolled back), so it must change nothing but the database."""
        ...

    async def write_one(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        """One write statement, which commits by itself; `bulk` as for `write`."""
        ...

    async def run_migrations(self, upgrade: Callable[[Connection], None]) -> None: ...
    async def close(self) -> None: ...


class Statements:
    """Each table's statements, built once; values are bound by name at execution."""

    def __init__(self, table: Table, computes_seq: bool) -> None:
        c = table.c
        self.get = select(c.data).where(c.id == bindparam("p_id"))
        self.delete: Delete = delete(table).where(c.id == bindparam("p_id"))
        self.replace: Update = (
            update(table)
            .where(c.id == bindparam("p_id"))
            .values(created_at=bindparam("p_created_at"), **schema.data_values(table))
        )
        self.insert: Insert = insert(table)
        if computes_seq:
            self.insert = self.insert.values(seq=next_seq())


def next_seq() -> Any:
    """SQLite's stand-in for `nextval`: one more than the highest `seq` of any table."""
    highest = union_all(
        *(select(func.max(t.c.seq).label("seq")) for t in schema.sequenced_tables())
    )
    top = highest.subquery()
    return select(func.coalesce(func.max(top.c.seq), 0) + 1).correlate(None).scalar_subquery()


def _insert_message(computes_seq: bool) -> Insert:
    """INSERT ... SELECT that inserts nothing when the thread does not exist."""
    m = schema.messages.c
    thread_id = bindparam("thread_id", type_=Text)
    columns = [m.id, m.created_at, m.data, m.thread_id, m.run_id]
    values: list[Any] = [
        bindparam("id", type_=Text),
        bindparam("created_at", type_=BigInteger),
        bindparam("data", type_=Text),
        thread_id,
        bindparam("run_id", type_=Text),
    ]
    if computes_seq:
        columns.append(m.seq)
        values.append(next_seq())
    source = select(*values).where(exists().where(schema.threads.c.id == thread_id))
    return insert(schema.messages).from_select(columns, source)


def object_row(model: BaseModel, object_id: str, created_at: int) -> dict[str, Any]:
    return {"id": object_id, "created_at": created_at, "data": model.model_dump_json()}


def message_row(message: Message) -> dict[str, Any]:
    row = object_row(message, message.id, message.created_at)
    return row | {"thread_id": message.thread_id, "run_id": message.run_id}


def equals(column: ColumnElement[str | None], value: str) -> ColumnElement[bool]:
    return column == value if storable(value) else false()


class SQLBase:
    """The database, the statements every part needs (threads and their messages) and
    the shapes of store call that each take one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._threads = Statements(schema.threads, database.computes_seq)
        self._insert_message = _insert_message(database.computes_seq)

    async def close(self) -> None:
        await self._db.close()

    async def _insert(self, statement: Insert, row: dict[str, Any]) -> None:
        await self._db.write_one(lambda conn: sql_exec.write(conn, statement, row))

    async def _get(self, model: type[M], statement: Select[Any], **params: str) -> M | None:
        if not storable(*params.values()):
            return None
        data = await self._db.lookup(lambda conn: sql_exec.scalar(conn, statement, params))
        return None if data is None else model.model_validate_json(data)

    async def _change(
        self, statement: Update | Delete, *, bulk: bool = False, **params: Any
    ) -> bool:
        """`statement` changed a row; `bulk`: it may touch many more (a delete's cascade)."""
        if not storable(*(v for v in params.values() if isinstance(v, str))):
            return False
        return await self._db.write_one(
            lambda conn: sql_exec.write(conn, statement, params) > 0, bulk=bulk
        )

    async def _list(
        self,
        model: type[M],
        table: Table,
        query: ListQuery,
        scope: Scope = EVERYTHING,
    ) -> Page[M]:
        rows = await self._db.read(lambda conn: page_rows(conn, table, scope, query))
        items = [model.model_validate_json(data) for data in rows[: query.limit]]
        if backwards(query):
            items.reverse()
        return Page(items, len(rows) > query.limit)
