"""Messages and run steps carry a revision, bumped by each write of their data, in the index
a thread's history is read by: the history is read by key (id, revision) and only the
items not already parsed are read whole.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_INDEXES = {
    "messages": (["thread_id", "seq"], ["thread_id", "seq", "id", "rev"]),
    "run_steps": (["thread_id", "seq"], ["thread_id", "seq", "type", "id", "rev"]),
}


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, (old, new) in _INDEXES.items():
        op.add_column(table, sa.Column("rev", sa.BigInteger(), nullable=False, server_default="0"))
        op.create_index(_name(table, new), table, new)
        op.drop_index(_name(table, old), table_name=table)


def downgrade() -> None:
    for table, (old, new) in _INDEXES.items():
        op.create_index(_name(table, old), table, old)
        op.drop_index(_name(table, new), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("rev")
