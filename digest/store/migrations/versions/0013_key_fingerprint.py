"""The fingerprint of the secret key that made the database's address hashes.

Never the key itself: an HMAC of a fixed label with it (digest.people.keyguard). A
command run with another key is refused instead of treating every suppressed
person as new.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from digest.store.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_fingerprint",
        sa.Column("slot", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("how", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("slot", name="pk_key_fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("key_fingerprint")
