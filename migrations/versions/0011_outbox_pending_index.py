"""An index of the pending e-mail only, so senders never walk the sent messages.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_index(
        "ix_outbox_messages_pending_due",
        "outbox_messages",
        ["next_attempt_at", "id"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade():
    op.drop_index("ix_outbox_messages_pending_due", table_name="outbox_messages")
