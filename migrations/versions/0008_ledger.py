"""Ledger entries and their evidence.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 12:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    _create_ledger_entries()
    _create_ledger_attachments()
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ledger_entry_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_evidence_files_ledger_entry_id_ledger_entries"),
            "ledger_entries",
            ["ledger_entry_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_evidence_files_ledger_entry_id"),
            ["ledger_entry_id"],
            unique=False,
        )


def _create_ledger_entries():
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(length=20), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("volunteer_hours", sa.Numeric(precision=9, scale=1), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("good_practice", sa.Boolean(), nullable=False),
        sa.Column("good_practice_by_id", sa.Integer(), nullable=True),
        sa.Column("good_practice_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_ledger_entries_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["good_practice_by_id"],
            ["users.id"],
            name=op.f("fk_ledger_entries_good_practice_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_ledger_entries_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_ledger_entries_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_indicator_code"),
            ["indicator_code"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_indicator_id"),
            ["indicator_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ledger_entries_unit_date", ["unit_id", "occurred_on"], unique=False
        )


def _create_ledger_attachments():
    op.create_table(
        "ledger_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=False),
        sa.Column("attached_by_id", sa.Integer(), nullable=True),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attached_by_id"],
            ["users.id"],
            name=op.f("fk_ledger_attachments_attached_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_attachments_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["submission_responses.id"],
            name=op.f("fk_ledger_attachments_response_id_submission_responses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_attachments")),
        sa.UniqueConstraint(
            "response_id",
            "ledger_entry_id",
            name=op.f("uq_ledger_attachments_response_id"),
        ),
    )
    with op.batch_alter_table("ledger_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_attachments_ledger_entry_id"),
            ["ledger_entry_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_attachments_response_id"),
            ["response_id"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_files_ledger_entry_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_evidence_files_ledger_entry_id_ledger_entries"),
            type_="foreignkey",
        )
        batch_op.drop_column("captured_at")
        batch_op.drop_column("ledger_entry_id")
    op.drop_table("ledger_attachments")
    op.drop_table("ledger_entries")
