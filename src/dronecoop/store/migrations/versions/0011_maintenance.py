"""Maintenance programs (tasks per model), tasks done, and defects.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_tasks",
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.Column("cycles", sa.Integer(), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("tolerance_pct", sa.Float(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "model", "code"),
    )
    op.create_table(
        "maintenance_done",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("aircraft_id", sa.String(64), nullable=False, index=True),
        sa.Column("task_code", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.Column("done_by", sa.String(255), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
    )
    op.create_table(
        "defects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("aircraft_id", sa.String(64), nullable=False, index=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("opened_at_us", sa.BigInteger(), nullable=False),
        sa.Column("closed_at_us", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("defects")
    op.drop_table("maintenance_done")
    op.drop_table("maintenance_tasks")
