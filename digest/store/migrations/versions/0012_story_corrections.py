"""Corrections and withdrawals of stories of sent issues (`digest corrections`).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_corrections",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("issue_id", sa.String(120), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_story_corrections"),
    )
    op.create_index("ix_story_corrections_issue_id", "story_corrections", ["issue_id"])


def downgrade() -> None:
    op.drop_index("ix_story_corrections_issue_id", table_name="story_corrections")
    op.drop_table("story_corrections")
