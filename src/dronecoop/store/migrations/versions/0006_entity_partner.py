"""Each DSS entity records the partner that owns it (the partner of its creator's token).

Rows written before this revision belong to ``local``.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("scd_operational_intents", "scd_constraints", "scd_subscriptions")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("partner", sa.String(64), nullable=False, server_default="local")
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("partner")
