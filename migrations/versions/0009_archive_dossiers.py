"""Frozen dossiers with their manifests.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dossiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("archive_id", sa.Integer(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("indicator_codes", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["archive_id"],
            ["archives.id"],
            name=op.f("fk_dossiers_archive_id_archives"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_dossiers_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instances.id"],
            name=op.f("fk_dossiers_instance_id_process_instances"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_dossiers_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossiers")),
        sa.UniqueConstraint("archive_id", name=op.f("uq_dossiers_archive_id")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_dossiers_instance_id")),
    )
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossiers_cycle_id"), ["cycle_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossiers_unit_id"), ["unit_id"], unique=False
        )

    op.create_table(
        "dossier_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("evidence_file_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_files_dossier_id_dossiers"),
        ),
        sa.ForeignKeyConstraint(
            ["evidence_file_id"],
            ["evidence_files.id"],
            name=op.f("fk_dossier_files_evidence_file_id_evidence_files"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_files")),
        sa.UniqueConstraint(
            "dossier_id", "path", name=op.f("uq_dossier_files_dossier_id")
        ),
    )
    with op.batch_alter_table("dossier_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_files_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "dossier_annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("corrects", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_dossier_annotations_author_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_annotations_dossier_id_dossiers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_annotations")),
    )
    with op.batch_alter_table("dossier_annotations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_annotations_dossier_id"),
            ["dossier_id"],
            unique=False,
        )


def downgrade():
    op.drop_table("dossier_annotations")
    op.drop_table("dossier_files")
    op.drop_table("dossiers")
