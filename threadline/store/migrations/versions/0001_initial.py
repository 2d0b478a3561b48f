"""Assistants, threads and messages.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _object_columns() -> list[sa.Column[Any]]:
    """What every object table starts with. `seq` is the creation order, one sequence
    for all tables: PostgreSQL's `object_seq`, given by the store in each insert."""
    return [
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence("object_seq")))
    for table in ("assistants", "threads"):
        op.create_table(
            table, *_object_columns(), sa.PrimaryKeyConstraint("id", name=f"pk_{table}")
        )
        op.create_index(f"ix_{table}_seq", table, ["seq"], unique=True)
    op.create_table(
        "messages",
        *_object_columns(),
        sa.Column("thread_id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name="fk_messages_thread_id_threads",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_messages_seq", "messages", ["seq"], unique=True)
    op.create_index("ix_messages_thread_id_seq", "messages", ["thread_id", "seq"])
    op.create_index("ix_messages_run_id", "messages", ["run_id"])


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("threads")
    op.drop_table("assistants")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("object_seq")))
