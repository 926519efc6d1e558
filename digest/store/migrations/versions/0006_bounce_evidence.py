"""Bounce evidence: the reason a bounce was classified by, the reader that decided, and what tied it to us.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("bounce_reason", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("parser", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("matched_by", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("matched_by")
        batch.drop_column("parser")
        batch.drop_column("bounce_reason")
