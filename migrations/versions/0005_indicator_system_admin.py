"""Indicator system administration: who created and published a version, item kinds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("indicator_systems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("published_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_indicator_systems_created_by_id_users"),
            "users",
            ["created_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_indicator_systems_published_by_id_users"),
            "users",
            ["published_by_id"],
            ["id"],
        )

    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_kind", sa.String(length=20), nullable=True))

    # Versions published before this revision count as published when created.
    op.execute(
        "UPDATE indicator_systems SET published_at = created_at "
        "WHERE published AND published_at IS NULL"
    )
    # A category's item kind is the kind of its first item; empty ones are base.
    op.execute(
        "UPDATE indicators SET item_kind = COALESCE("
        "(SELECT item.kind FROM indicators AS item "
        "WHERE item.parent_id = indicators.id "
        "ORDER BY item.position LIMIT 1), 'base') "
        "WHERE kind = 'category'"
    )


def downgrade():
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.drop_column("item_kind")

    with op.batch_alter_table("indicator_systems", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_indicator_systems_published_by_id_users"),
            type_="foreignkey",
        )
        batch_op.drop_constraint(
            batch_op.f("fk_indicator_systems_created_by_id_users"),
            type_="foreignkey",
        )
        batch_op.drop_column("published_by_id")
        batch_op.drop_column("published_at")
        batch_op.drop_column("created_by_id")
