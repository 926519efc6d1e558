"""The send ledger: sends, their frozen variants, batches, deliveries and locks.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("issue_id", sa.String(120), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("segments", sa.JSON, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("scheduled_at", UTCDateTime, nullable=True),
        sa.Column("provider_batch_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sends"),
    )
    op.create_index("ix_sends_issue_id", "sends", ["issue_id"])
    op.create_table(
        "send_variants",
        sa.Column("send_id", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(400), nullable=False),
        sa.Column("segment", sa.String(100), nullable=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("preheader", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("story_ids", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("send_id", "variant", name="pk_send_variants"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name="fk_send_variants_send_id_sends", ondelete="CASCADE"),
    )
    op.create_table(
        "send_batches",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("send_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("provider_message_id", sa.String(300), nullable=True),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_send_batches"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name="fk_send_batches_send_id_sends", ondelete="CASCADE"),
    )
    op.create_index("ix_send_batches_send_id", "send_batches", ["send_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("send_id", sa.Integer, nullable=False),
        sa.Column("issue_id", sa.String(120), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("segment", sa.String(100), nullable=False),
        sa.Column("variant", sa.String(400), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("provider_message_id", sa.String(300), nullable=True),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name="fk_deliveries_send_id_sends", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], name="fk_deliveries_subscriber_id_subscribers"),
        sa.ForeignKeyConstraint(["batch_id"], ["send_batches.id"], name="fk_deliveries_batch_id_send_batches"),
        sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_deliveries_issue_id_subscriber_id"),
    )
    op.create_index("ix_deliveries_subscriber_id", "deliveries", ["subscriber_id"])
    op.create_index("ix_deliveries_provider_message_id", "deliveries", ["provider_message_id"])
    op.create_index("ix_deliveries_send_state", "deliveries", ["send_id", "state", "variant", "id"])
    op.create_table(
        "send_locks",
        sa.Column("issue_id", sa.String(120), nullable=False),
        sa.Column("send_id", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("issue_id", name="pk_send_locks"),
    )


def downgrade() -> None:
    op.drop_table("send_locks")
    op.drop_table("deliveries")
    op.drop_table("send_batches")
    op.drop_table("send_variants")
    op.drop_table("sends")
