"""Articles: who posted an item (apart from its author), the editor's edits, deletion.

Revision ID: 0008
Revises: 0007

The SAFE newsfeed export's "by <name>" names the member of staff who posted
the item, not its author. Articles imported from it (``.txt`` files) kept that
name as the author until now; it moves to ``posted_by``.
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("posted_by", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("edited", sa.JSON, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("deleted_at", UTCDateTime, nullable=True))
    articles = sa.table(
        "articles", sa.column("author", sa.String), sa.column("posted_by", sa.String), sa.column("origin", sa.String)
    )
    op.execute(
        articles.update()
        .where(sa.func.lower(articles.c.origin).like("%.txt"), articles.c.author != "")
        .values(posted_by=articles.c.author, author="")
    )


def downgrade() -> None:
    articles = sa.table("articles", sa.column("author", sa.String), sa.column("posted_by", sa.String))
    op.execute(articles.update().where(articles.c.posted_by != "").values(author=articles.c.posted_by))
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("edited")
        batch.drop_column("posted_by")
