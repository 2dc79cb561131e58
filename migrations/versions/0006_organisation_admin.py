"""Organisation administration: no schema change.

Offices, units and accounts are administered with the columns they already
have; changes are kept as audit events. The revision keeps the chain in step.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:30:00

"""

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
