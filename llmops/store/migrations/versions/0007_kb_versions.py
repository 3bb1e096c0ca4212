"""knowledge-base versions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ingested_by", sa.String(length=200), nullable=False, server_default="system")
        )
    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("sources", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_versions")),
    )
    op.create_table(
        "kb_version_docs",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("doc_hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("ingested_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["kb_versions.id"],
            name=op.f("fk_kb_version_docs_version_id_kb_versions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "source", name=op.f("pk_kb_version_docs")),
    )  # fmt: skip
    op.create_index("ix_kb_version_docs_doc_hash", "kb_version_docs", ["doc_hash"], unique=False)
    # what is ingested today becomes version 1
    conn = op.get_bind()
    count = conn.execute(sa.text("SELECT count(*) FROM documents")).scalar() or 0
    if count:
        conn.execute(
            sa.text(
                "INSERT INTO kb_versions (parent_id, created_at, created_by, note, sources, "
                "chunks, published) SELECT NULL, max(ingested_at), 'system', 'before versions', "
                "count(*), coalesce(sum(chunk_count), 0), true FROM documents"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO kb_version_docs (version_id, source, doc_hash, title, lang, "
                "chunk_count, ingested_at, ingested_by) SELECT (SELECT max(id) FROM "
                "kb_versions), source, content_hash, title, lang, chunk_count, ingested_at, "
                "'system' FROM documents"
            )
        )


def downgrade() -> None:
    op.drop_index("ix_kb_version_docs_doc_hash", table_name="kb_version_docs")
    op.drop_table("kb_version_docs")
    op.drop_table("kb_versions")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("ingested_by")
