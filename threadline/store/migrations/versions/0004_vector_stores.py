"""Vector stores: their files (the ingestion queue), file batches and chunks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "vector_stores",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vector_stores"),
    )
    op.create_index("ix_vector_stores_seq", "vector_stores", ["seq"], unique=True)
    _file_batches()
    _vector_store_files()
    _chunks()


def _file_batches() -> None:
    op.create_table(
        "file_batches",
        sa.Column("vector_store_id", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vector_store_id"],
            ["vector_stores.id"],
            name="fk_file_batches_vector_store_id_vector_stores",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vector_store_id", "id", name="pk_file_batches"),
    )


def _vector_store_files() -> None:
    op.create_table(
        "vector_store_files",
        sa.Column("vector_store_id", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("usage_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.Double(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["vector_store_id"],
            ["vector_stores.id"],
            name="fk_vector_store_files_vector_store_id_vector_stores",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vector_store_id", "id", name="pk_vector_store_files"),
    )
    op.create_index("ix_vector_store_files_seq", "vector_store_files", ["seq"], unique=True)
    op.create_index(
        "ix_vector_store_files_vector_store_id_seq",
        "vector_store_files",
        ["vector_store_id", "seq"],
    )
    ingesting = sa.text("status = 'in_progress'")
    op.create_index(
        "ix_vector_store_files_in_progress_seq",
        "vector_store_files",
        ["seq"],
        sqlite_where=ingesting,
        postgresql_where=ingesting,
    )


def _chunks() -> None:
    op.create_table(
        "chunks",
        sa.Column("vector_store_id", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vector_store_id", "file_id"],
            ["vector_store_files.vector_store_id", "vector_store_files.id"],
            name="fk_chunks_vector_store_id_vector_store_files",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vector_store_id", "file_id", "chunk_index", name="pk_chunks"),
    )


def downgrade() -> None:
    op.drop_table("chunks")
    op.drop_table("vector_store_files")
    op.drop_table("file_batches")
    op.drop_table("vector_stores")
