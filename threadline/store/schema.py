"""The SQL tables behind the store: one JSON document per object plus the columns lists
filter and sort on.

Every table has `seq`, the creation order that lists sort by (objects created in the same
second keep their order). One sequence serves all tables, as in `MemoryStore`, so rows of
different tables can be put in creation order too (a thread's messages and run steps).
PostgreSQL draws it from the sequence `object_seq`; SQLite has no sequences, so its single
writer computes one more than the highest `seq` of any table inside the insert itself
(the unique index on each `seq` keeps that cheap). Rows that belong to a thread reference
it with `ON DELETE CASCADE`, so deleting a thread removes everything in it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    MetaData,
    Sequence,
    Table,
    Text,
)

__all__ = ["assistants", "messages", "metadata", "object_seq", "sequenced_tables", "threads"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


object_seq = Sequence("object_seq", metadata=metadata)


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
    Index(None, "seq", unique=True),
    Index(None, "thread_id", "seq"),
    Index(None, "run_id"),
)


def sequenced_tables() -> list[Table]:
    """Every table whose rows take a number from the shared sequence."""
    return [table for table in metadata.sorted_tables if "seq" in table.c]
