"""Deliveries' provider message ids indexed only where there is one.

Planning writes every row without a message id and claiming rewrites it
still without one; a full index took an entry for each of those versions,
which cost PostgreSQL about a twentieth of a send. Every look-up by message
id (events and bounces placed by it) asks for a value, which implies it is
not NULL, so SQLite and PostgreSQL both use the partial index for them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOT_NULL = sa.text("provider_message_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_deliveries_provider_message_id", table_name="deliveries")
    op.create_index(
        "ix_deliveries_provider_message_id",
        "deliveries",
        ["provider_message_id"],
        postgresql_where=NOT_NULL,
        sqlite_where=NOT_NULL,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_provider_message_id", table_name="deliveries")
    op.create_index("ix_deliveries_provider_message_id", "deliveries", ["provider_message_id"])
