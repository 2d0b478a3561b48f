"""Chunks record the embedding model of their vectors (vectors of different models never mix).

Revision ID: 0005
Revises: 0004
Create Date: 2026-01-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Chunks stored before this were embedded by the only model there was.
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(
            sa.Column(
                "embedding_model",
                sa.Text(),
                nullable=False,
                server_default="all-MiniLM-L6-v2",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("embedding_model")
