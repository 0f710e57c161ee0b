"""Partner keys registered at run time, for rotation without restarting nodes.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_keys",
        sa.Column("partner", sa.String(64), primary_key=True),
        sa.Column("kid", sa.String(128), primary_key=True),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("added_at_us", sa.BigInteger(), nullable=False),
        sa.Column("added_by", sa.String(255), nullable=False),
        sa.Column("retired_at_us", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("partner_keys")
