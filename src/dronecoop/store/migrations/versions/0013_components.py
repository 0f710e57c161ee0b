"""Components (serials, life limits) and where they were installed.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("part_number", sa.String(128), nullable=False),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("life_hours", sa.Float(), nullable=True),
        sa.Column("life_cycles", sa.Integer(), nullable=True),
        sa.Column("tsn_hours", sa.Float(), nullable=False),
        sa.Column("tsn_cycles", sa.Integer(), nullable=False),
        sa.UniqueConstraint("partner", "part_number", "serial", name="uq_component_serial"),
    )
    op.create_table(
        "installations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("component_id", sa.String(64), nullable=False, index=True),
        sa.Column("aircraft_id", sa.String(64), nullable=False, index=True),
        sa.Column("position", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("installed_at_us", sa.BigInteger(), nullable=False),
        sa.Column("hours_at_install", sa.Float(), nullable=False),
        sa.Column("cycles_at_install", sa.Integer(), nullable=False),
        sa.Column("removed_at_us", sa.BigInteger(), nullable=True),
        sa.Column("hours_at_removal", sa.Float(), nullable=True),
        sa.Column("cycles_at_removal", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("installations")
    op.drop_table("components")
