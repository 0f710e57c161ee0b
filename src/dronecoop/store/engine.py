"""Database engines: SQLite (WAL, one writer at a time) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from psycopg_pool import ConnectionPool
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_POOL_SIZE = 10


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy's default driver is psycopg2)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def build_engine(url: str) -> Engine:
    """An engine configured for dronecoop's transaction discipline on either database."""
    url = normalise_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url)
    return create_engine(
        url,
        # The DSS's statements are few and fixed; their generic plans are as good as custom
        # ones (index lookups by cell and id), and replanning cost ~0.5 ms per statement.
        connect_args={"options": "-c plan_cache_mode=force_generic_plan"},
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_POOL_SIZE,
        # No ping on checkout (a round trip per request): SqlAirspaceStore retries a
        # transaction whose connection turns out dead before it commits.
        isolation_level="READ COMMITTED",
    )


def build_pg_pool(url: str) -> ConnectionPool:
    """A psycopg connection pool for ``url`` with the same settings as ``build_engine``."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return ConnectionPool(
        conninfo,
        min_size=2,
        max_size=2 * POSTGRES_POOL_SIZE,
        # ``pg_batch.Batch`` sends BEGIN and COMMIT itself, with statements, and prepares
        # statements itself (psycopg's own cache would DEALLOCATE ALL after a ROLLBACK).
        kwargs={
            "options": "-c plan_cache_mode=force_generic_plan",
            "autocommit": True,
            "prepare_threshold": None,
        },
        open=True,
        name="dronecoop-airspace",
    )


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit acknowledged to a client survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.info.get("begin_mode", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


class SqliteWriterLock:
    """Serialises writers within this process so none ever waits on SQLITE_BUSY."""

    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _guard = threading.Lock()

    @classmethod
    def for_url(cls, url: str) -> threading.Lock:
        with cls._guard:
            return cls._locks.setdefault(url, threading.Lock())


@contextlib.contextmanager
def write_transaction(engine: Engine, url: str) -> Iterator[Connection]:
    """One write transaction on ``engine``: on SQLite behind this process's writer lock
    and ``BEGIN IMMEDIATE`` (as the airspace store writes), on PostgreSQL plain."""
    lock = SqliteWriterLock.for_url(normalise_url(url)) if is_sqlite(url) else None
    with lock or contextlib.nullcontext(), engine.connect() as conn:
        if lock is not None:
            conn.info["begin_mode"] = "IMMEDIATE"
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("begin_mode", None)


class SqlRepository:
    """A store on one SQLAlchemy engine: its own, or one the node shares among its stores
    (each engine is a pool of up to 20 connections; a node needs one, not one per store)."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self._url = normalise_url(url)
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else build_engine(self._url)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()
