"""The SQL store (SQLite or PostgreSQL): each object is a JSON document in its table, lists
sort by the creation sequence number `seq`, and each write is one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.files import FileObject
from threadline.protocol.messages import Message
from threadline.protocol.threads import Thread
from threadline.store import schema, sql_exec
from threadline.store.base import Page, Store
from threadline.store.postgres import CONNECTIONS, PostgresDatabase, is_postgres_url
from threadline.store.sql_admin import SQLAdmin
from threadline.store.sql_base import Database, Statements, message_row, object_row
from threadline.store.sql_pages import Scope
from threadline.store.sql_runs import SQLRunStore
from threadline.store.sql_vectors import SQLVectorStore
from threadline.store.sqlite import SQLiteDatabase, sqlite_path

__all__ = ["SQLStore", "migrate", "open_sql_store"]

MIGRATIONS = Path(__file__).parent / "migrations"


def _database(url: str, vector_index: bool = True, connections: int = CONNECTIONS) -> Database:
    if is_postgres_url(url):
        return PostgresDatabase(url, vectors=vector_index, connections=connections)
    return SQLiteDatabase(sqlite_path(url), vectors=vector_index)


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


async def open_sql_store(
    url: str, *, vector_index: bool = True, connections: int = CONNECTIONS
) -> Store:
    """Open the SQLite or PostgreSQL database a URL names, migrated to the newest schema;
    `vector_index=False` searches vectors with the numpy scan even where sqlite-vec or
    pgvector is there (for comparisons); `connections`: the most PostgreSQL connections
    open at once."""
    database = _database(url, vector_index, connections)
    try:
        await database.run_migrations(_upgrade)
    except BaseException:
        await database.close()
        raise
    return SQLStore(database)


class SQLStore(SQLRunStore, SQLVectorStore, SQLAdmin):
    """The `Store` on SQLite or PostgreSQL; see `Database` for what differs between them.
    Runs and run steps live in `sql_runs.py`, vector stores in `sql_vectors.py`."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        computes_seq = database.computes_seq
        self._assistants = Statements(schema.assistants, computes_seq)
        self._files = Statements(schema.files, computes_seq)
        self._messages = Statements(schema.messages, computes_seq)
        self._replace_message = self._messages.replace.where(
            schema.messages.c.thread_id == bindparam("p_thread_id")
        ).values(run_id=bindparam("p_run_id"))
        self._get_message = self._messages.get.where(
            schema.messages.c.thread_id == bindparam("p_thread_id")
        )
        self._delete_message = self._messages.delete.where(
            schema.messages.c.thread_id == bindparam("p_thread_id")
        )

    async def _replace(self, statements: Statements, model: Assistant | Thread) -> bool:
        return await self._change(
            statements.replace,
            p_id=model.id,
            p_created_at=model.created_at,
            p_data=model.model_dump_json(),
        )

    # Assistants
    async def insert_assistant(self, assistant: Assistant) -> None:
        row = object_row(assistant, assistant.id, assistant.created_at)
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
        rows = [message_row(m) for m in messages]

        def work(conn: Connection) -> None:
            row = object_row(thread, thread.id, thread.created_at)
            sql_exec.write(conn, self._threads.insert, row)
            if rows:
                sql_exec.write(conn, self._insert_message, rows)

        await self._db.write(work)
        self._inserted(list(zip(messages, rows, strict=True)))

    async def get_thread(self, thread_id: str) -> Thread | None:
        return await self._get(Thread, self._threads.get, p_id=thread_id)

    async def replace_thread(self, thread: Thread) -> bool:
        return await self._replace(self._threads, thread)

    async def delete_thread(self, thread_id: str) -> bool:
        return await self._change(self._threads.delete, bulk=True, p_id=thread_id)

    # Messages
    async def insert_message(self, message: Message) -> bool:
        if message.run_id is None:
            return await self._insert_idle_message(message)
        row = message_row(message)
        try:
            inserted = await self._db.write_one(
                lambda conn: sql_exec.write(conn, self._insert_message, row) > 0
            )
        except IntegrityError:  # PostgreSQL: the thread was deleted meanwhile
            return False
        if inserted:
            self._inserted([(message, row)])
        return inserted

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
        equal = {"thread_id": thread_id}
        if run_id is not None:
            equal["run_id"] = run_id
        return await self._list(Message, schema.messages, query, Scope(equal, ("thread_id",)))

    # Files
    async def insert_file(self, file: FileObject) -> None:
        row = object_row(file, file.id, file.created_at)
        await self._insert(self._files.insert, row | _file_columns(file))

    async def get_file(self, file_id: str) -> FileObject | None:
        return await self._get(FileObject, self._files.get, p_id=file_id)

    async def list_files(
        self, purpose: str | None, query: ListQuery, now: int | None = None
    ) -> Page[FileObject]:
        scope = Scope({} if purpose is None else {"purpose": purpose}, unexpired_at=now)
        return await self._list(FileObject, schema.files, query, scope)

    async def delete_file(self, file_id: str) -> bool:
        return await self._change(self._files.delete, bulk=True, p_id=file_id)


def _file_columns(file: FileObject) -> dict[str, object]:
    return {"purpose": file.purpose, "expires_at": file.expires_at}
