"""The relational schema, shared by SQLite and PostgreSQL (Alembic migrations follow it).

Times are stored as integer microseconds since the Unix epoch, UTC (``*_us``), so that
both engines compare them exactly and cheaply. Each spatial entity keeps its S2 cells
twice: packed in its row (to re-read it whole) and one row per cell in a ``*_cells``
table whose primary key indexes the search ``cell_id IN (...)``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = String(64)


def _cells_table(name: str) -> Table:
    # Each cell row repeats its entity's time envelope so that a search narrows by cell AND
    # time inside this index, instead of fetching every entity ever stored in the cell.
    return Table(
        name,
        metadata,
        Column("cell_id", BigInteger, primary_key=True, autoincrement=False),
        Column("entity_id", ID, primary_key=True),
        Column("time_start_us", BigInteger, nullable=False, server_default="0"),
        Column("time_end_us", BigInteger, nullable=False, server_default="0"),
        Index(f"ix_{name}_entity", "entity_id"),
        Index(f"ix_{name}_cell_time", "cell_id", "time_end_us", "time_start_us", "entity_id"),
    )


operational_intents = Table(
    "scd_operational_intents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("manager", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("ovn", String(255), nullable=False),
    Column("uss_base_url", String(2048), nullable=False),
    Column("subscription_id", ID, nullable=True, index=True),
    Column("time_start_us", BigInteger, nullable=False),
    Column("time_end_us", BigInteger, nullable=False, index=True),
    Column("altitude_lower_m", Float, nullable=True),
    Column("altitude_upper_m", Float, nullable=True),
    Column("cells", LargeBinary, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("partner", String(64), nullable=False, server_default="local"),
)
operational_intent_cells = _cells_table("scd_operational_intent_cells")

constraints = Table(
    "scd_constraints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("manager", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("ovn", String(255), nullable=False),
    Column("uss_base_url", String(2048), nullable=False),
    Column("time_start_us", BigInteger, nullable=False),
    Column("time_end_us", BigInteger, nullable=False, index=True),
    Column("altitude_lower_m", Float, nullable=True),
    Column("altitude_upper_m", Float, nullable=True),
    Column("cells", LargeBinary, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("partner", String(64), nullable=False, server_default="local"),
)
constraint_cells = _cells_table("scd_constraint_cells")

subscriptions = Table(
    "scd_subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("manager", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("uss_base_url", String(2048), nullable=False),
    Column("notification_index", Integer, nullable=False),
    Column("notify_for_operational_intents", Boolean, nullable=False),
    Column("notify_for_constraints", Boolean, nullable=False),
    Column("implicit", Boolean, nullable=False),
    Column("time_start_us", BigInteger, nullable=False),
    Column("time_end_us", BigInteger, nullable=False, index=True),
    Column("altitude_lower_m", Float, nullable=True),
    Column("altitude_upper_m", Float, nullable=True),
    Column("cells", LargeBinary, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("partner", String(64), nullable=False, server_default="local"),
)
subscription_cells = _cells_table("scd_subscription_cells")

uss_availability = Table(
    "scd_uss_availability",
    metadata,
    Column("uss_id", String(255), primary_key=True),
    Column("availability", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

reports = Table(
    "dss_reports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("reporter", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
)


# The audit chain (trust.audit). Each change writes its event to audit_pending in its own
# transaction; the sealer moves pending events into audit_log in id order, each hash
# committing to the previous one, and keeps the last (seq, hash) in audit_head.
def _audit_event_columns() -> list[Column[object]]:
    """The columns of one audit event (trust.audit.AuditEvent), fresh for each table."""
    return [
        Column("at_us", BigInteger, nullable=False),
        Column("partner", String(64), nullable=False),
        Column("actor", String(255), nullable=False),
        Column("action", String(64), nullable=False),
        Column("target_kind", String(64), nullable=False),
        Column("target_id", String(255), nullable=False),
        Column("before_digest", String(64), nullable=True),
        Column("after_digest", String(64), nullable=True),
    ]


audit_pending = Table(
    "audit_pending",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    *_audit_event_columns(),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    *_audit_event_columns(),
    Column("hash", LargeBinary, nullable=False),
    Index("ix_audit_log_partner", "partner"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

# Keys a partner admin registered at run time (key rotation without restarting nodes):
# tokens naming ``kid`` verify against ``public_pem`` until the key is retired.
partner_keys = Table(
    "partner_keys",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("kid", String(128), primary_key=True),
    Column("public_pem", Text, nullable=False),
    Column("added_at_us", BigInteger, nullable=False),
    Column("added_by", String(255), nullable=False),
    Column("retired_at_us", BigInteger, nullable=True),
)

# A partner's flights (flights.model.Flight); volumes and details as JSON text.
flights = Table(
    "flights",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner", String(64), nullable=False, index=True),
    Column("manager", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("volumes", Text, nullable=False),
    Column("ovn", String(255), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("released_to", Text, nullable=False),
    Column("details", Text, nullable=False),
)

# Other USSs' operational intents as their notifications told this node (flights.peers).
peer_intents = Table(
    "peer_intents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("manager", String(255), nullable=False),
    Column("uss_base_url", String(1024), nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("ovn", String(255), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("volumes", Text, nullable=False),
    Column("received_at_us", BigInteger, nullable=False),
)

# Restricted areas a partner published as F3548 constraints (zones.model.Zone).
zones = Table(
    "zones",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("manager", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("restriction", String(32), nullable=False),
    Column("volumes", Text, nullable=False),
    Column("ovn", String(255), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("source", Text, nullable=False),
)

# The fleet registry (fleet.model): aircraft, and the flight logs kept for them.
aircraft = Table(
    "aircraft",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("serial", String(255), nullable=False),
    Column("registration", String(255), nullable=False),
    Column("home_depot", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("autopilot_uid", String(255), nullable=False),
    Column("opening_hours", Float, nullable=False),
    Column("opening_cycles", Integer, nullable=False),
    Column("opening_as_of_us", BigInteger, nullable=True),
    Column("released_to", Text, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    UniqueConstraint("partner", "serial", name="uq_aircraft_partner_serial"),
)
flight_logs = Table(
    "flight_logs",
    metadata,
    Column("sha256", String(64), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("aircraft_id", ID, nullable=True, index=True),
    Column("filename", String(255), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("start_utc_us", BigInteger, nullable=True),
    Column("airborne_s", Float, nullable=False),
    Column("cycles", Integer, nullable=False),
    Column("report", Text, nullable=False),
    Column("ingested_at_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("partner", "sha256"),
)

# Maintenance (mro): programs' tasks per model, tasks done, defects.
maintenance_tasks = Table(
    "maintenance_tasks",
    metadata,
    Column("partner", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("code", String(64), nullable=False),
    Column("title", String(255), nullable=False),
    Column("hours", Float, nullable=True),
    Column("cycles", Integer, nullable=True),
    Column("days", Integer, nullable=True),
    Column("tolerance_pct", Float, nullable=False),
    Column("critical", Boolean, nullable=False),
    PrimaryKeyConstraint("partner", "model", "code"),
)
maintenance_done = Table(
    "maintenance_done",
    metadata,
    Column("id", ID, primary_key=True),
    Column("aircraft_id", ID, nullable=False, index=True),
    Column("task_code", String(64), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("hours", Float, nullable=False),
    Column("cycles", Integer, nullable=False),
    Column("done_by", String(255), nullable=False),
    Column("partner", String(64), nullable=False),
)
defects = Table(
    "defects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("aircraft_id", ID, nullable=False, index=True),
    Column("partner", String(64), nullable=False),
    Column("title", String(500), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("source", String(255), nullable=False),
    Column("opened_at_us", BigInteger, nullable=False),
    Column("closed_at_us", BigInteger, nullable=True),
    Column("deferred_until_us", BigInteger, nullable=True),
    Column("deferred_hours_limit", Float, nullable=True),
    Column("deferral_reason", String(255), nullable=True),
)

# Work orders (mro.workorders) and each depot's parts inventory.
work_orders = Table(
    "work_orders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("aircraft_id", ID, nullable=False, index=True),
    Column("owner", String(64), nullable=False),
    Column("depot", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cards", Text, nullable=False),
    Column("parts", Text, nullable=False),
    Column("opened_by", String(255), nullable=False),
    Column("opened_at_us", BigInteger, nullable=False),
    Column("closed_at_us", BigInteger, nullable=True),
    Column("version", Integer, nullable=False),
)
inventory = Table(
    "inventory",
    metadata,
    Column("partner", String(64), nullable=False),
    Column("part_number", String(128), nullable=False),
    Column("description", String(255), nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("partner", "part_number"),
)

# Components and their installations (fleet.components).
components = Table(
    "components",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("part_number", String(128), nullable=False),
    Column("serial", String(128), nullable=False),
    Column("description", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("life_hours", Float, nullable=True),
    Column("life_cycles", Integer, nullable=True),
    Column("tsn_hours", Float, nullable=False),
    Column("tsn_cycles", Integer, nullable=False),
    UniqueConstraint("partner", "part_number", "serial", name="uq_component_serial"),
)
installations = Table(
    "installations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("component_id", ID, nullable=False, index=True),
    Column("aircraft_id", ID, nullable=False, index=True),
    Column("position", String(64), nullable=False),
    Column("parent_id", ID, nullable=True),
    Column("installed_at_us", BigInteger, nullable=False),
    Column("hours_at_install", Float, nullable=False),
    Column("cycles_at_install", Integer, nullable=False),
    Column("removed_at_us", BigInteger, nullable=True),
    Column("hours_at_removal", Float, nullable=True),
    Column("cycles_at_removal", Integer, nullable=True),
)

# Parameter baselines per model (fleet.baselines).
param_baselines = Table(
    "param_baselines",
    metadata,
    Column("partner", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("name", String(128), nullable=False),
    Column("parameters", Text, nullable=False),
    Column("source", String(255), nullable=False),
    PrimaryKeyConstraint("partner", "model", "name"),
)
