"""Time envelope in the cell tables, indexed with the cell.

A search used to fetch every entity ever stored in a cell and then drop those outside the
time window; the cell rows now carry the window, so the index answers both at once.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ENTITY_TABLES = {
    "scd_operational_intent_cells": "scd_operational_intents",
    "scd_constraint_cells": "scd_constraints",
    "scd_subscription_cells": "scd_subscriptions",
}


def upgrade() -> None:
    for cells, entities in _ENTITY_TABLES.items():
        with op.batch_alter_table(cells) as batch:
            batch.add_column(
                sa.Column("time_start_us", sa.BigInteger(), nullable=False, server_default="0")
            )
            batch.add_column(
                sa.Column("time_end_us", sa.BigInteger(), nullable=False, server_default="0")
            )
        op.execute(
            f"UPDATE {cells} SET "  # noqa: S608 - table names are constants above
            f"time_start_us = (SELECT e.time_start_us FROM {entities} e WHERE e.id = entity_id), "
            f"time_end_us = (SELECT e.time_end_us FROM {entities} e WHERE e.id = entity_id)"
        )
        op.create_index(
            f"ix_{cells}_cell_time",
            cells,
            ["cell_id", "time_end_us", "time_start_us", "entity_id"],
        )


def downgrade() -> None:
    for cells in _ENTITY_TABLES:
        op.drop_index(f"ix_{cells}_cell_time", table_name=cells)
        with op.batch_alter_table(cells) as batch:
            batch.drop_column("time_end_us")
            batch.drop_column("time_start_us")
