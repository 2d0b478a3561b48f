"""Runs (with their executor's lease and the one-active-run-per-thread lock) and run steps.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Written out, not imported: a migration describes the schema as it was at this revision.
ACTIVE = "status IN ('cancelling', 'in_progress', 'queued', 'requires_action')"


def _object_columns(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=f"fk_{table}_thread_id_threads",
            ondelete="CASCADE",
        ),
    ]


def _partial_index(name: str, column: str, where: str, unique: bool = False) -> None:
    condition = sa.text(where)
    op.create_index(
        name,
        "runs",
        [column],
        unique=unique,
        sqlite_where=condition,
        postgresql_where=condition,
    )


def _create_runs() -> None:
    op.create_table(
        "runs",
        *_object_columns("runs"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.Double(), server_default="0", nullable=False),
        sa.Column("recoveries", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index("ix_runs_seq", "runs", ["seq"], unique=True)
    op.create_index("ix_runs_thread_id_seq", "runs", ["thread_id", "seq"])
    _partial_index("ix_runs_active_thread_id", "thread_id", ACTIVE, unique=True)
    _partial_index("ix_runs_active_seq", "seq", ACTIVE)


def _create_run_steps() -> None:
    op.create_table(
        "run_steps",
        *_object_columns("run_steps"),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_steps_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_run_steps_seq", "run_steps", ["seq"], unique=True)
    op.create_index("ix_run_steps_run_id_seq", "run_steps", ["run_id", "seq"])
    op.create_index("ix_run_steps_thread_id_seq", "run_steps", ["thread_id", "seq"])


def upgrade() -> None:
    _create_runs()
    _create_run_steps()


def downgrade() -> None:
    op.drop_table("run_steps")
    op.drop_table("runs")
