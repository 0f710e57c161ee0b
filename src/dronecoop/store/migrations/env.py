"""Alembic environment: applies dronecoop's migrations to the configured URL."""

from __future__ import annotations

from alembic import context

from dronecoop.store.engine import build_engine
from dronecoop.store.schema import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("sqlalchemy.url is not configured")

engine = build_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
