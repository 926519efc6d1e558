"""Subscribers, their status history and the suppression list.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("organisation", sa.String(300), nullable=False, server_default=""),
        sa.Column("role", sa.String(200), nullable=False, server_default=""),
        sa.Column("sector", sa.String(100), nullable=False, server_default=""),
        sa.Column("region", sa.String(100), nullable=False, server_default=""),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("topics", sa.JSON, nullable=False),
        sa.Column("key_contact", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("status_changed_at", UTCDateTime, nullable=False),
        sa.Column("consent_source", sa.String(300), nullable=False, server_default=""),
        sa.Column("consent_at", UTCDateTime, nullable=True),
        sa.Column("consent_text", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email_key", name="uq_subscribers_email_key"),
    )
    op.create_index("ix_subscribers_email_hash", "subscribers", ["email_hash"])
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
    op.create_table(
        "subscriber_history",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("old_status", sa.String(16), nullable=True),
        sa.Column("new_status", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("event_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscriber_history"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_subscriber_history_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_subscriber_history_subscriber_id", "subscriber_history", ["subscriber_id"])
    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name="pk_suppressions"),
    )
    op.create_table(
        "suppression_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suppression_log"),
    )
    op.create_index("ix_suppression_log_email_hash", "suppression_log", ["email_hash"])


def downgrade() -> None:
    op.drop_table("suppression_log")
    op.drop_table("suppressions")
    op.drop_table("subscriber_history")
    op.drop_table("subscribers")
