"""Provider events, soft-bounce scores and double opt-in requests.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("soft_bounce_score", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_soft_bounce_at", UTCDateTime, nullable=True))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("provider_event_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("raw_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("email", sa.String(320), nullable=False, server_default=""),
        sa.Column("delivery_id", sa.Integer, nullable=True),
        sa.Column("subscriber_id", sa.Integer, nullable=True),
        sa.Column("issue_id", sa.String(120), nullable=True),
        sa.Column("message_id", sa.String(300), nullable=True),
        sa.Column("bounce_class", sa.String(8), nullable=True),
        sa.Column("status", sa.String(32), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("machine_open", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("placed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("outcome", sa.Text, nullable=False, server_default=""),
        sa.Column("ingest_batch", sa.String(32), nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("provider", "provider_event_id", name="uq_events_provider_provider_event_id"),
    )
    op.create_index("ix_events_type", "events", ["type"])
    op.create_index("ix_events_delivery_id", "events", ["delivery_id"])
    op.create_index("ix_events_subscriber_id", "events", ["subscriber_id"])
    op.create_index("ix_events_issue_id", "events", ["issue_id"])
    op.create_table(
        "subscribe_requests",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("consent_text", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscribe_requests"),
        sa.UniqueConstraint("token_hash", name="uq_subscribe_requests_token_hash"),
    )
    op.create_index("ix_subscribe_requests_email_key", "subscribe_requests", ["email_key"])


def downgrade() -> None:
    op.drop_table("subscribe_requests")
    op.drop_table("events")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("last_soft_bounce_at")
        batch.drop_column("soft_bounce_score")
