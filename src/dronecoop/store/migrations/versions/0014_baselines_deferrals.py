"""Parameter baselines per model; deferred defects (limits until which they may fly).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "param_baselines",
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("partner", "model", "name"),
    )
    with op.batch_alter_table("defects") as batch:
        batch.add_column(sa.Column("deferred_until_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("deferred_hours_limit", sa.Float(), nullable=True))
        batch.add_column(sa.Column("deferral_reason", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("defects") as batch:
        batch.drop_column("deferral_reason")
        batch.drop_column("deferred_hours_limit")
        batch.drop_column("deferred_until_us")
    op.drop_table("param_baselines")
