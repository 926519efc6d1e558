"""Articles: the published date may be unknown.

A feed entry whose date cannot be read was stored as published today, so an
old story was drafted into this week's issue. It is now stored undated
(NULL); drafts leave it out until the editor dates it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.alter_column("published", existing_type=sa.Date, nullable=True)


def downgrade() -> None:
    # An undated article cannot go back to a schema that requires a date: it keeps its day of import.
    articles = sa.table("articles", sa.column("published", sa.Date), sa.column("created_at", sa.DateTime))
    op.execute(
        articles.update().where(articles.c.published.is_(None)).values(published=sa.func.date(articles.c.created_at))
    )
    with op.batch_alter_table("articles") as batch:
        batch.alter_column("published", existing_type=sa.Date, nullable=False)
