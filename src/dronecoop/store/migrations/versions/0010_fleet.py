"""The fleet registry: aircraft, and the flight logs kept for them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aircraft",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("serial", sa.String(255), nullable=False),
        sa.Column("registration", sa.String(255), nullable=False),
        sa.Column("home_depot", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("autopilot_uid", sa.String(255), nullable=False),
        sa.Column("opening_hours", sa.Float(), nullable=False),
        sa.Column("opening_cycles", sa.Integer(), nullable=False),
        sa.Column("opening_as_of_us", sa.BigInteger(), nullable=True),
        sa.Column("released_to", sa.Text(), nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("partner", "serial", name="uq_aircraft_partner_serial"),
    )
    op.create_table(
        "flight_logs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("aircraft_id", sa.String(64), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("start_utc_us", sa.BigInteger(), nullable=True),
        sa.Column("airborne_s", sa.Float(), nullable=False),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("ingested_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "sha256"),
    )
    op.create_index("ix_flight_logs_aircraft", "flight_logs", ["aircraft_id"])


def downgrade() -> None:
    op.drop_index("ix_flight_logs_aircraft", table_name="flight_logs")
    op.drop_table("flight_logs")
    op.drop_table("aircraft")
