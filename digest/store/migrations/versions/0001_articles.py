"""The article store.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(120), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("published", sa.Date, nullable=False),
        sa.Column("author", sa.String(300), nullable=False, server_default=""),
        sa.Column("url", sa.String(2000), nullable=False, server_default=""),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("topics", sa.JSON, nullable=False),
        sa.Column("topics_locked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("origin", sa.String(2000), nullable=False, server_default=""),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("dedupe_key", name="uq_articles_dedupe_key"),
    )
    op.create_index("ix_articles_published", "articles", ["published"])


def downgrade() -> None:
    op.drop_table("articles")
