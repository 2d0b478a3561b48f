"""The SQL tables behind the store: one JSON document per object plus the columns lists
filter and sort on.

Every table has `seq`, the creation order that lists sort by (objects created in the same
second keep their order). One sequence serves all tables, as in `MemoryStore`, so rows of
different tables can be put in creation order too (a thread's messages and run steps).
PostgreSQL draws it from the sequence `object_seq`; SQLite has no sequences, so its single
writer computes one more than the highest `seq` of any table inside the insert itself
(the unique index on each `seq` keeps that cheap). Rows that belong to a thread reference
it with `ON DELETE CASCADE`, so deleting a thread removes everything in it.

A run's row also holds its `status` and `expires_at` (copies of the document's, written
with it), and its executor's lease, which is in no document: `lease_owner`, `lease_until`
and `recoveries`. Partial indexes on the active runs are the thread lock and the queue.

Vector stores, their files (keyed by vector store and file id, with the ingester's lease),
file batches and chunks (text and embedding) cascade from the vector store.

A file's row holds its metadata (the bytes are in a `BlobStore`) with copies of its
`purpose` and `expires_at`, which lists filter on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    Table,
    Text,
    bindparam,
    literal_column,
)

from threadline.runs.states import ACTIVE

__all__ = [
    "ACTIVE_STATUSES",
    "assistants",
    "chunks",
    "data_values",
    "file_batches",
    "files",
    "messages",
    "metadata",
    "object_seq",
    "run_steps",
    "runs",
    "sequenced_tables",
    "status_in",
    "threads",
    "vector_store_files",
    "vector_stores",
]

# Sorted, so that the SQL written with them is always the same.
ACTIVE_STATUSES = tuple(sorted(ACTIVE))

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


object_seq = Sequence("object_seq", metadata=metadata)


def _rev() -> Column[int]:
    # Bumped by every write of the row's data: a history item is parsed again only when
    # its (id, rev) changed (`sql_runs.SQLRunStore.thread_history`).
    return Column("rev", BigInteger, nullable=False, server_default="0")


def _seq() -> Column[int]:
    # A client-side default: SQLAlchemy writes `nextval('object_seq')` into PostgreSQL
    # inserts and ignores it on SQLite, where the store supplies `seq` itself.
    return Column("seq", BigInteger, object_seq, nullable=False)


assistants = Table(
    "assistants",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Index(None, "seq", unique=True),
)

threads = Table(
    "threads",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Index(None, "seq", unique=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Column("thread_id", Text, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", Text, nullable=True),
    _rev(),
    Index(None, "seq", unique=True),
    # Covers a thread's history by key (`sql_run_statements.history`).
    Index(None, "thread_id", "seq", "id", "rev"),
    Index(None, "run_id"),
)


def data_values(table: Table) -> dict[str, Any]:
    """The values of an UPDATE that writes a row's data (`p_data`), its revision bumped
    where it has one: every write of messages' and run steps' data goes through here."""
    values: dict[str, Any] = {"data": bindparam("p_data")}
    if "rev" in table.c:
        values["rev"] = table.c.rev + 1
    return values


def status_in(column: ColumnElement[str], statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with the values written out, not bound: only then can the
    planners (SQLite, and PostgreSQL's generic plans) tell that a query's condition is a
    partial index's."""
    return column.in_([literal_column(f"'{status}'") for status in statuses])


def _thread_id() -> Column[str]:
    return Column("thread_id", Text, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False)


runs = Table(
    "runs",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    _thread_id(),
    Column("status", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    # The executor's lease: who holds the run and until when (epoch seconds).
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", Double, nullable=False, server_default="0"),
    Column("recoveries", Integer, nullable=False, server_default="0"),
    Index(None, "seq", unique=True),
    Index(None, "thread_id", "seq"),
)
_active = status_in(runs.c.status, ACTIVE_STATUSES)
# The thread lock: one active run per thread.
Index(
    "ix_runs_active_thread_id",
    runs.c.thread_id,
    unique=True,
    sqlite_where=_active,
    postgresql_where=_active,
)
# The queue and the expiry sweep: the active runs (few), in creation order.
Index("ix_runs_active_seq", runs.c.seq, sqlite_where=_active, postgresql_where=_active)

run_steps = Table(
    "run_steps",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    _thread_id(),
    Column("run_id", Text, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("type", Text, nullable=False),
    _rev(),
    Index(None, "seq", unique=True),
    Index(None, "run_id", "seq"),
    Index(None, "thread_id", "seq", "type", "id", "rev"),
)


files = Table(
    "files",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Index(None, "seq", unique=True),
    Index(None, "purpose", "seq"),
)


vector_stores = Table(
    "vector_stores",
    metadata,
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Index(None, "seq", unique=True),
)


def _vector_store_id() -> Column[str]:
    return Column(
        "vector_store_id",
        Text,
        ForeignKey("vector_stores.id", ondelete="CASCADE"),
        primary_key=True,
    )


file_batches = Table(
    "file_batches",
    metadata,
    _vector_store_id(),
    Column("id", Text, primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
)

# A vector store file's id is its File's; the pair is the key. `status` copies the
# document's; the ingester's lease is in no document.
vector_store_files = Table(
    "vector_store_files",
    metadata,
    _vector_store_id(),
    Column("id", Text, primary_key=True),
    _seq(),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("usage_bytes", BigInteger, nullable=False, server_default="0"),
    Column("batch_id", Text, nullable=True),
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", Double, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index(None, "seq", unique=True),
    Index(None, "vector_store_id", "seq"),
)
_ingesting = vector_store_files.c.status == literal_column("'in_progress'")
# The ingestion queue: the in_progress files (few), in creation order.
Index(
    "ix_vector_store_files_in_progress_seq",
    vector_store_files.c.seq,
    sqlite_where=_ingesting,
    postgresql_where=_ingesting,
)

# A vector store file's chunks; `vector` is its embedding as float32 bytes, made by
# `embedding_model`.
chunks = Table(
    "chunks",
    metadata,
    Column("vector_store_id", Text, primary_key=True),
    Column("file_id", Text, primary_key=True),
    Column("chunk_index", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("token_count", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("embedding_model", Text, nullable=False, server_default="all-MiniLM-L6-v2"),
    ForeignKeyConstraint(
        ["vector_store_id", "file_id"],
        ["vector_store_files.vector_store_id", "vector_store_files.id"],
        ondelete="CASCADE",
    ),
)


def sequenced_tables() -> list[Table]:
    """Every table whose rows take a number from the shared sequence."""
    return [table for table in metadata.sorted_tables if "seq" in table.c]
