"""Sign-up requests as a queue (state, sent_at, a token only once mailed) and shared rate limits.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribe_requests") as batch:
        # Requests before 0007 were mailed while the visitor waited: they are 'sent' (or 'confirmed').
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="sent"))
        batch.add_column(sa.Column("outcome", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("sent_at", UTCDateTime, nullable=True))
        batch.alter_column("token_hash", existing_type=sa.String(64), nullable=True)
        batch.create_index("ix_subscribe_requests_state", ["state"])
        batch.create_index("ix_subscribe_requests_created_at", ["created_at"])
    op.execute("UPDATE subscribe_requests SET state = 'confirmed' WHERE confirmed_at IS NOT NULL")
    op.execute("UPDATE subscribe_requests SET sent_at = created_at")
    op.create_table(
        "rate_limit_hits",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("bucket", sa.String(80), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rate_limit_hits"),
    )
    op.create_index("ix_rate_limit_hits_bucket_at", "rate_limit_hits", ["bucket", "at"])


def downgrade() -> None:
    op.drop_table("rate_limit_hits")
    op.execute("DELETE FROM subscribe_requests WHERE token_hash IS NULL")
    with op.batch_alter_table("subscribe_requests") as batch:
        batch.drop_index("ix_subscribe_requests_created_at")
        batch.drop_index("ix_subscribe_requests_state")
        batch.alter_column("token_hash", existing_type=sa.String(64), nullable=False)
        batch.drop_column("sent_at")
        batch.drop_column("outcome")
        batch.drop_column("state")
