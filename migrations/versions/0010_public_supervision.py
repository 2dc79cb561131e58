"""Public site articles and public reports.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = (
    "public_report_photos",
    "public_report_milestones",
    "public_reports",
    "public_articles",
    "public_rate_hits",
)


def upgrade():
    op.create_table(
        "public_rate_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_rate_hits")),
    )
    op.create_index(
        op.f("ix_public_rate_hits_at"), "public_rate_hits", ["at"], unique=False
    )
    op.create_index(
        "ix_public_rate_hits_client_at",
        "public_rate_hits",
        ["client_hash", "at"],
        unique=False,
    )
    op.create_table(
        "public_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_public_articles_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_public_articles_office_id_offices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_articles")),
    )
    op.create_index(
        op.f("ix_public_articles_office_id"),
        "public_articles",
        ["office_id"],
        unique=False,
    )
    op.create_index(
        "ix_public_articles_status_published",
        "public_articles",
        ["status", "published_at"],
        unique=False,
    )
    op.create_table(
        "public_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=False),
        sa.Column("contact_email", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("triage_reason", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("rectify_days", sa.Integer(), nullable=True),
        sa.Column("rectification_due", sa.Date(), nullable=True),
        sa.Column("rectification_response", sa.Text(), nullable=False),
        sa.Column("check_opinion", sa.Text(), nullable=False),
        sa.Column("public_reply", sa.Text(), nullable=False),
        sa.Column("deduction_id", sa.Integer(), nullable=True),
        sa.Column("title_review_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deduction_id"],
            ["unit_deductions.id"],
            name=op.f("fk_public_reports_deduction_id_unit_deductions"),
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instances.id"],
            name=op.f("fk_public_reports_instance_id_process_instances"),
        ),
        sa.ForeignKeyConstraint(
            ["title_review_id"],
            ["title_reviews.id"],
            name=op.f("fk_public_reports_title_review_id_title_reviews"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_public_reports_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_reports")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_public_reports_code_hash")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_public_reports_instance_id")),
    )
    op.create_index(
        op.f("ix_public_reports_unit_id"), "public_reports", ["unit_id"], unique=False
    )
    op.create_table(
        "public_report_milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("milestone", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["public_reports.id"],
            name=op.f("fk_public_report_milestones_report_id_public_reports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_report_milestones")),
    )
    op.create_index(
        op.f("ix_public_report_milestones_report_id"),
        "public_report_milestones",
        ["report_id"],
        unique=False,
    )
    op.create_table(
        "public_report_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["public_reports.id"],
            name=op.f("fk_public_report_photos_report_id_public_reports"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_public_report_photos_uploaded_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_report_photos")),
    )
    op.create_index(
        op.f("ix_public_report_photos_report_id"),
        "public_report_photos",
        ["report_id"],
        unique=False,
    )


def downgrade():
    for table in TABLES:
        op.drop_table(table)
