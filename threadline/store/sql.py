"""The SQL store (SQLite or PostgreSQL): each object is a JSON document in its table, lists
sort by the creation sequence number `seq`, and each write is one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.threads import Thread
from threadline.store import schema
from threadline.store.base import Page, Store, cursor_not_found
from threadline.store.postgres import PostgresDatabase, is_postgres_url
from threadline.store.sqlite import SQLiteDatabase, sqlite_path

__all__ = ["SQLStore", "migrate", "open_sql_store"]

M = TypeVar("M", bound=BaseModel)

MIGRATIONS = Path(__file__).parent / "migrations"


class Database(Protocol):
    """What the store needs from an engine setup (`sqlite.py`, `postgres.py`)."""

    @property
    def computes_seq(self) -> bool:
        """True when inserts compute `seq` themselves (SQLite has no sequences)."""
        ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
    def write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
    async def run_migrations(self, upgrade: Callable[[Connection], None]) -> None: ...
    async def close(self) -> None: ...


def _database(url: str) -> Database:
    if is_postgres_url(url):
        return PostgresDatabase(url)
    return SQLiteDatabase(sqlite_path(url))


def _upgrade(connection: Connection) -> None:
    config = Config()
    # ConfigParser would read a '%' in the path as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(url: str) -> None:
    """Bring the database a URL names up to the newest schema."""
    database = _database(url)
    try:
        await database.run_migrations(_upgrade)
    finally:
        await database.close()


async def open_sql_store(url: str) -> Store:
    """Open the SQLite or PostgreSQL database a URL names, migrated to the newest schema."""
    database = _database(url)
    try:
        await database.run_migrations(_upgrade)
    except BaseException:
        await database.close()
        raise
    return SQLStore(database)


class _Statements:
    """Each table's statements, built once; values are bound by name at execution."""

    def __init__(self, table: Table, computes_seq: bool) -> None:
        c = table.c
        self.get = select(c.data).where(c.id == bindparam("p_id"))
        self.delete: Delete = delete(table).where(c.id == bindparam("p_id"))
        self.replace: Update = (
            update(table)
            .where(c.id == bindparam("p_id"))
            .values(created_at=bindparam("p_created_at"), data=bindparam("p_data"))
        )
        self.insert: Insert = insert(table)
        if computes_seq:
            self.insert = self.insert.values(seq=_next_seq())


def _next_seq() -> Any:
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
        values.append(_next_seq())
    source = select(*values).where(exists().where(schema.threads.c.id == thread_id))
    return insert(schema.messages).from_select(columns, source)


def _row(model: BaseModel, object_id: str, created_at: int) -> dict[str, Any]:
    return {"id": object_id, "created_at": created_at, "data": model.model_dump_json()}


def _message_row(message: Message) -> dict[str, Any]:
    row = _row(message, message.id, message.created_at)
    return row | {"thread_id": message.thread_id, "run_id": message.run_id}


def _storable(*values: str | None) -> bool:
    # PostgreSQL text cannot hold NUL, so no stored id contains one: such a lookup must
    # find nothing rather than fail in the driver.
    return not any(v is not None and "\x00" in v for v in values)


def _equals(column: ColumnElement[str | None], value: str) -> ColumnElement[bool]:
    return column == value if _storable(value) else false()


def _cursor_seq(table: Table, scope: Sequence[ColumnElement[bool]], object_id: str) -> Any:
    return select(table.c.seq).where(_equals(table.c.id, object_id), *scope).correlate(None)


def _page_query(
    table: Table,
    scope: Sequence[ColumnElement[bool]],
    cursor_scope: Sequence[ColumnElement[bool]],
    query: ListQuery,
) -> Select[str]:
    """`limit + 1` rows past `after` and ahead of `before`; a page with only `before` is
    read backwards from the cursor (the caller turns it round)."""
    seq = table.c.seq
    desc = query.order == "desc"
    conditions = list(scope)
    if query.after is not None:
        after = _cursor_seq(table, cursor_scope, query.after).scalar_subquery()
        conditions.append(seq < after if desc else seq > after)
    if query.before is not None:
        before = _cursor_seq(table, cursor_scope, query.before).scalar_subquery()
        conditions.append(seq > before if desc else seq < before)
    ascending = desc == _backwards(query)
    order = seq.asc() if ascending else seq.desc()
    return select(table.c.data).where(*conditions).order_by(order).limit(query.limit + 1)


def _backwards(query: ListQuery) -> bool:
    return query.before is not None and query.after is None


def _page(model: type[M], rows: Sequence[str], query: ListQuery) -> Page[M]:
    items = [model.model_validate_json(data) for data in rows[: query.limit]]
    if _backwards(query):
        items.reverse()
    return Page(items, len(rows) > query.limit)


class SQLStore:
    """The `Store` on SQLite or PostgreSQL; see `Database` for what differs between them."""

    def __init__(self, database: Database) -> None:
        self._db = database
        computes_seq = database.computes_seq
        self._assistants = _Statements(schema.assistants, computes_seq)
        self._threads = _Statements(schema.threads, computes_seq)
        self._messages = _Statements(schema.messages, computes_seq)
        self._insert_message = _insert_message(computes_seq)
        self._replace_message = self._messages.replace.where(
            schema.messages.c.thread_id == bindparam("p_thread_id")
        ).values(run_id=bindparam("p_run_id"))
        self._get_message = self._messages.get.where(
            schema.messages.c.thread_id == bindparam("p_thread_id")
        )
        self._delete_message = self._messages.delete.where(
            schema.messages.c.thread_id == bindparam("p_thread_id")
        )

    async def close(self) -> None:
        await self._db.close()

    # Shared steps: one transaction each.
    async def _insert(self, statement: Insert, row: dict[str, Any]) -> None:
        async with self._db.write() as conn:
            await conn.execute(statement, row)

    async def _get(self, model: type[M], statement: Select[Any], **params: str) -> M | None:
        if not _storable(*params.values()):
            return None
        async with self._db.read() as conn:
            data = (await conn.execute(statement, params)).scalar_one_or_none()
        return None if data is None else model.model_validate_json(data)

    async def _change(self, statement: Update | Delete, **params: Any) -> bool:
        if not _storable(*(v for v in params.values() if isinstance(v, str))):
            return False
        async with self._db.write() as conn:
            return (await conn.execute(statement, params)).rowcount > 0

    async def _replace(self, statements: _Statements, model: Assistant | Thread) -> bool:
        return await self._change(
            statements.replace,
            p_id=model.id,
            p_created_at=model.created_at,
            p_data=model.model_dump_json(),
        )

    async def _list(
        self,
        model: type[M],
        table: Table,
        query: ListQuery,
        scope: Sequence[ColumnElement[bool]] = (),
        cursor_scope: Sequence[ColumnElement[bool]] = (),
    ) -> Page[M]:
        statement = _page_query(table, scope, cursor_scope, query)
        async with self._db.read() as conn:
            rows = (await conn.execute(statement)).scalars().all()
            if not rows:  # an unknown cursor selects nothing: say which one it was
                await _check_cursors(conn, table, cursor_scope, query)
        return _page(model, rows, query)

    # Assistants
    async def insert_assistant(self, assistant: Assistant) -> None:
        row = _row(assistant, assistant.id, assistant.created_at)
        await self._insert(self._assistants.insert, row)

    async def get_assistant(self, assistant_id: str) -> Assistant | None:
        return await self._get(Assistant, self._assistants.get, p_id=assistant_id)

    async def replace_assistant(self, assistant: Assistant) -> bool:
        return await self._replace(self._assistants, assistant)

    async def delete_assistant(self, assistant_id: str) -> bool:
        return await self._change(self._assistants.delete, p_id=assistant_id)

    async def list_assistants(self, query: ListQuery) -> Page[Assistant]:
        return await self._list(Assistant, schema.assistants, query)

    # Threads
    async def insert_thread(self, thread: Thread, messages: Sequence[Message] = ()) -> None:
        async with self._db.write() as conn:
            await conn.execute(self._threads.insert, _row(thread, thread.id, thread.created_at))
            if messages:
                await conn.execute(self._insert_message, [_message_row(m) for m in messages])

    async def get_thread(self, thread_id: str) -> Thread | None:
        return await self._get(Thread, self._threads.get, p_id=thread_id)

    async def replace_thread(self, thread: Thread) -> bool:
        return await self._replace(self._threads, thread)

    async def delete_thread(self, thread_id: str) -> bool:
        return await self._change(self._threads.delete, p_id=thread_id)

    # Messages
    async def insert_message(self, message: Message) -> bool:
        try:
            async with self._db.write() as conn:
                result = await conn.execute(self._insert_message, _message_row(message))
        except IntegrityError:  # PostgreSQL: the thread was deleted meanwhile
            return False
        return result.rowcount > 0

    async def get_message(self, thread_id: str, message_id: str) -> Message | None:
        return await self._get(Message, self._get_message, p_id=message_id, p_thread_id=thread_id)

    async def replace_message(self, message: Message) -> bool:
        return await self._change(
            self._replace_message,
            p_id=message.id,
            p_thread_id=message.thread_id,
            p_run_id=message.run_id,
            p_created_at=message.created_at,
            p_data=message.model_dump_json(),
        )

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        return await self._change(self._delete_message, p_id=message_id, p_thread_id=thread_id)

    async def list_messages(
        self, thread_id: str, query: ListQuery, run_id: str | None = None
    ) -> Page[Message]:
        table = schema.messages
        in_thread = [_equals(table.c.thread_id, thread_id)]
        scope = in_thread if run_id is None else [*in_thread, _equals(table.c.run_id, run_id)]
        return await self._list(Message, table, query, scope, in_thread)


async def _check_cursors(
    conn: AsyncConnection,
    table: Table,
    scope: Sequence[ColumnElement[bool]],
    query: ListQuery,
) -> None:
    for param, object_id in (("after", query.after), ("before", query.before)):
        if object_id is None:
            continue
        statement = _cursor_seq(table, scope, object_id)
        if (await conn.execute(statement)).first() is None:
            raise cursor_not_found(param, object_id)
