"""Storage adapters: SQLite (embedded default) and PostgreSQL, one schema, Alembic migrations."""
