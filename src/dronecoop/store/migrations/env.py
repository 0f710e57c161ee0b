"""Alembic environment: applies dronecoop's migrations to the configured URL.

On PostgreSQL the run holds an advisory lock, so that several nodes (or uvicorn workers)
starting at once migrate one after the other instead of racing to create tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from dronecoop.store.engine import build_engine
from dronecoop.store.schema import metadata

MIGRATION_LOCK_KEY = 0x64726F6E65636F6F  # "dronecoo"

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("sqlalchemy.url is not configured")

engine = build_engine(url)
with engine.connect() as connection:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
    try:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
engine.dispose()
