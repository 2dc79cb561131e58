"""Drafts of procedure diagrams edited in the browser; custom lane names.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:55:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "procedure_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("bpmn_xml", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["process_versions.id"],
            name=op.f("fk_procedure_drafts_base_version_id_process_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_procedure_drafts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_drafts")),
        sa.UniqueConstraint(
            "user_id", "process_key", name=op.f("uq_procedure_drafts_user_id")
        ),
    )

    op.create_table(
        "lane_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("routes_to", sa.String(length=20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_lane_routes_created_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lane_routes")),
        sa.UniqueConstraint("name", name=op.f("uq_lane_routes_name")),
    )


def downgrade():
    op.drop_table("lane_routes")
    op.drop_table("procedure_drafts")
