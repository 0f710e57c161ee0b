"""SQL implementation of the airspace store, for SQLite and PostgreSQL alike.

Concurrency discipline (see ``airspace.store``):
- SQLite: one writer at a time (an in-process lock plus ``BEGIN IMMEDIATE``), readers in
  WAL snapshots; ``lock_cells`` has nothing left to do.
- PostgreSQL: READ COMMITTED, and ``lock_cells`` takes transaction-scoped advisory locks
  on the S2 cells in ascending order, so writers over shared cells run one after another
  while writers elsewhere run in parallel. Deadlocks and serialisation failures are
  retried a bounded number of times.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from dronecoop.airspace.model import (
    ConstraintRef,
    EntityID,
    Footprint,
    ManagerID,
    OperationalIntentRef,
    OperationalIntentState,
    Subscription,
    SubscriptionID,
    UssAvailability,
    UssAvailabilityStatus,
)
from dronecoop.store import schema
from dronecoop.store.engine import SqliteWriterLock, build_engine, is_sqlite, normalise_url

logger = logging.getLogger(__name__)

T = TypeVar("T")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ATTEMPTS = 8
RETRY_BACKOFF_S = 0.005
# PostgreSQL SQLSTATEs worth a retry: serialization_failure, deadlock_detected.
_RETRYABLE_PG_CODES = {"40001", "40P01"}


def to_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def pack_cells(cells: Iterable[int]) -> bytes:
    ordered = sorted(cells)
    return struct.pack(f"<{len(ordered)}q", *ordered)


def unpack_cells(blob: bytes) -> frozenset[int]:
    return frozenset(struct.unpack(f"<{len(blob) // 8}q", blob))


def _footprint(row: Row[Any]) -> Footprint:
    return Footprint(
        cells=unpack_cells(row.cells),
        time_start=from_us(row.time_start_us),
        time_end=from_us(row.time_end_us),
        altitude_lower_w84_m=row.altitude_lower_m,
        altitude_upper_w84_m=row.altitude_upper_m,
    )


def _footprint_columns(fp: Footprint) -> dict[str, Any]:
    return {
        "time_start_us": to_us(fp.time_start),
        "time_end_us": to_us(fp.time_end),
        "altitude_lower_m": fp.altitude_lower_w84_m,
        "altitude_upper_m": fp.altitude_upper_w84_m,
        "cells": pack_cells(fp.cells),
    }


def _op_from_row(row: Row[Any]) -> OperationalIntentRef:
    return OperationalIntentRef(
        id=EntityID(row.id),
        manager=ManagerID(row.manager),
        version=row.version,
        state=OperationalIntentState(row.state),
        ovn=row.ovn,
        uss_base_url=row.uss_base_url,
        subscription_id=SubscriptionID(row.subscription_id) if row.subscription_id else None,
        footprint=_footprint(row),
        updated_at=from_us(row.updated_at_us),
    )


def _constraint_from_row(row: Row[Any]) -> ConstraintRef:
    return ConstraintRef(
        id=EntityID(row.id),
        manager=ManagerID(row.manager),
        version=row.version,
        ovn=row.ovn,
        uss_base_url=row.uss_base_url,
        footprint=_footprint(row),
        updated_at=from_us(row.updated_at_us),
    )


def _subscription_from_row(row: Row[Any]) -> Subscription:
    return Subscription(
        id=SubscriptionID(row.id),
        manager=ManagerID(row.manager),
        version=row.version,
        uss_base_url=row.uss_base_url,
        notification_index=row.notification_index,
        notify_for_operational_intents=bool(row.notify_for_operational_intents),
        notify_for_constraints=bool(row.notify_for_constraints),
        implicit=bool(row.implicit),
        footprint=_footprint(row),
        updated_at=from_us(row.updated_at_us),
    )


class SqlAirspaceTx:
    """One transaction; implements ``airspace.store.AirspaceTx``."""

    def __init__(self, conn: Connection, *, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres

    # -- locking -----------------------------------------------------------------------
    def lock_cells(self, cells: Iterable[int]) -> None:
        if not self._postgres:
            return  # the single SQLite writer already excludes every other writer
        ordered = sorted(set(cells))
        if ordered:
            self._conn.execute(
                text("SELECT pg_advisory_xact_lock(c) FROM unnest(CAST(:cells AS bigint[])) AS c"),
                {"cells": ordered},
            )

    # -- generic helpers ---------------------------------------------------------------
    def _get(self, table: Table, entity_id: str, for_update: bool) -> Row[Any] | None:
        query = select(table).where(table.c.id == entity_id)
        if for_update and self._postgres:
            query = query.with_for_update()
        return self._conn.execute(query).first()

    def _search(
        self, table: Table, cells_table: Table, area: Footprint, now: datetime | None
    ) -> Sequence[Row[Any]]:
        if not area.cells:
            return []
        ids = select(cells_table.c.entity_id).where(
            cells_table.c.cell_id.in_(bindparam("cells", expanding=True))
        )
        conditions = [
            table.c.id.in_(ids),
            table.c.time_end_us >= to_us(area.time_start),
            table.c.time_start_us <= to_us(area.time_end),
        ]
        if now is not None:
            conditions.append(table.c.time_end_us >= to_us(now))
        if area.altitude_upper_w84_m is not None:
            conditions.append(
                or_(
                    table.c.altitude_lower_m.is_(None),
                    table.c.altitude_lower_m <= area.altitude_upper_w84_m,
                )
            )
        if area.altitude_lower_w84_m is not None:
            conditions.append(
                or_(
                    table.c.altitude_upper_m.is_(None),
                    table.c.altitude_upper_m >= area.altitude_lower_w84_m,
                )
            )
        query = select(table).where(and_(*conditions)).order_by(table.c.id)
        return self._conn.execute(query, {"cells": sorted(area.cells)}).all()

    def _put(
        self, table: Table, cells_table: Table, values: dict[str, Any], cells: frozenset[int]
    ) -> None:
        entity_id = values["id"]
        existing = self._conn.execute(select(table.c.cells).where(table.c.id == entity_id)).first()
        if existing is None:
            self._conn.execute(table.insert().values(**values))
            old_cells: frozenset[int] = frozenset()
        else:
            self._conn.execute(update(table).where(table.c.id == entity_id).values(**values))
            old_cells = unpack_cells(existing.cells)
        removed = old_cells - cells
        added = cells - old_cells
        if removed:
            self._conn.execute(
                delete(cells_table).where(
                    cells_table.c.entity_id == entity_id,
                    cells_table.c.cell_id.in_(bindparam("removed", expanding=True)),
                ),
                {"removed": sorted(removed)},
            )
        if added:
            self._conn.execute(
                cells_table.insert(),
                [{"cell_id": cell, "entity_id": entity_id} for cell in sorted(added)],
            )

    def _delete(self, table: Table, cells_table: Table, entity_id: str) -> None:
        self._conn.execute(delete(cells_table).where(cells_table.c.entity_id == entity_id))
        self._conn.execute(delete(table).where(table.c.id == entity_id))

    # -- operational intents ------------------------------------------------------------
    def get_operational_intent(
        self, entity_id: EntityID, *, for_update: bool = False
    ) -> OperationalIntentRef | None:
        row = self._get(schema.operational_intents, entity_id, for_update)
        return None if row is None else _op_from_row(row)

    def search_operational_intents(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[OperationalIntentRef]:
        rows = self._search(schema.operational_intents, schema.operational_intent_cells, area, now)
        return [_op_from_row(row) for row in rows]

    def put_operational_intent(self, ref: OperationalIntentRef) -> None:
        values = {
            "id": ref.id,
            "manager": ref.manager,
            "version": ref.version,
            "state": ref.state.value,
            "ovn": ref.ovn,
            "uss_base_url": ref.uss_base_url,
            "subscription_id": ref.subscription_id,
            "updated_at_us": to_us(ref.updated_at),
            **_footprint_columns(ref.footprint),
        }
        self._put(
            schema.operational_intents, schema.operational_intent_cells, values, ref.footprint.cells
        )

    def delete_operational_intent(self, entity_id: EntityID) -> None:
        self._delete(schema.operational_intents, schema.operational_intent_cells, entity_id)

    # -- constraints --------------------------------------------------------------------
    def get_constraint(
        self, entity_id: EntityID, *, for_update: bool = False
    ) -> ConstraintRef | None:
        row = self._get(schema.constraints, entity_id, for_update)
        return None if row is None else _constraint_from_row(row)

    def search_constraints(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[ConstraintRef]:
        rows = self._search(schema.constraints, schema.constraint_cells, area, now)
        return [_constraint_from_row(row) for row in rows]

    def put_constraint(self, ref: ConstraintRef) -> None:
        values = {
            "id": ref.id,
            "manager": ref.manager,
            "version": ref.version,
            "ovn": ref.ovn,
            "uss_base_url": ref.uss_base_url,
            "updated_at_us": to_us(ref.updated_at),
            **_footprint_columns(ref.footprint),
        }
        self._put(schema.constraints, schema.constraint_cells, values, ref.footprint.cells)

    def delete_constraint(self, entity_id: EntityID) -> None:
        self._delete(schema.constraints, schema.constraint_cells, entity_id)

    # -- subscriptions ------------------------------------------------------------------
    def get_subscription(
        self, subscription_id: SubscriptionID, *, for_update: bool = False
    ) -> Subscription | None:
        row = self._get(schema.subscriptions, subscription_id, for_update)
        return None if row is None else _subscription_from_row(row)

    def search_subscriptions(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[Subscription]:
        rows = self._search(schema.subscriptions, schema.subscription_cells, area, now)
        return [_subscription_from_row(row) for row in rows]

    def put_subscription(self, sub: Subscription) -> None:
        values = {
            "id": sub.id,
            "manager": sub.manager,
            "version": sub.version,
            "uss_base_url": sub.uss_base_url,
            "notification_index": sub.notification_index,
            "notify_for_operational_intents": sub.notify_for_operational_intents,
            "notify_for_constraints": sub.notify_for_constraints,
            "implicit": sub.implicit,
            "updated_at_us": to_us(sub.updated_at),
            **_footprint_columns(sub.footprint),
        }
        self._put(schema.subscriptions, schema.subscription_cells, values, sub.footprint.cells)

    def delete_subscription(self, subscription_id: SubscriptionID) -> None:
        self._delete(schema.subscriptions, schema.subscription_cells, subscription_id)

    def bump_notification_indices(
        self, subscription_ids: Collection[SubscriptionID]
    ) -> dict[SubscriptionID, int]:
        table = schema.subscriptions
        result: dict[SubscriptionID, int] = {}
        # One row at a time in id order: concurrent bumpers lock rows in the same order.
        for sub_id in sorted(subscription_ids):
            row = self._conn.execute(
                update(table)
                .where(table.c.id == sub_id)
                .values(notification_index=table.c.notification_index + 1)
                .returning(table.c.notification_index)
            ).first()
            if row is not None:
                result[sub_id] = row.notification_index
        return result

    def dependent_operational_intents(self, subscription_id: SubscriptionID) -> list[EntityID]:
        table = schema.operational_intents
        rows = self._conn.execute(
            select(table.c.id)
            .where(table.c.subscription_id == subscription_id)
            .order_by(table.c.id)
        )
        return [EntityID(row.id) for row in rows]

    def get_uss_availabilities(self, uss_ids: Collection[str]) -> dict[str, UssAvailability]:
        if not uss_ids:
            return {}
        table = schema.uss_availability
        rows = self._conn.execute(
            select(table.c.uss_id, table.c.availability).where(
                table.c.uss_id.in_(bindparam("ids", expanding=True))
            ),
            {"ids": sorted(uss_ids)},
        )
        return {row.uss_id: UssAvailability(row.availability) for row in rows}

    # -- USS availability ---------------------------------------------------------------
    def get_uss_availability(self, uss_id: str) -> UssAvailabilityStatus | None:
        table = schema.uss_availability
        row = self._conn.execute(select(table).where(table.c.uss_id == uss_id)).first()
        if row is None:
            return None
        return UssAvailabilityStatus(
            uss_id=row.uss_id,
            availability=UssAvailability(row.availability),
            version=row.version,
            updated_at=from_us(row.updated_at_us),
        )

    def put_uss_availability(self, status: UssAvailabilityStatus) -> None:
        table = schema.uss_availability
        values = {
            "availability": status.availability.value,
            "version": status.version,
            "updated_at_us": to_us(status.updated_at or datetime.now(UTC)),
        }
        updated = self._conn.execute(
            update(table).where(table.c.uss_id == status.uss_id).values(**values)
        )
        if updated.rowcount == 0:
            self._conn.execute(table.insert().values(uss_id=status.uss_id, **values))

    def put_report(self, report_id: str, reporter: str, body_json: str, at: datetime) -> None:
        self._conn.execute(
            schema.reports.insert().values(
                id=report_id, reporter=reporter, body=body_json, created_at_us=to_us(at)
            )
        )

    # -- housekeeping -------------------------------------------------------------------
    def delete_expired(self, ended_before: datetime) -> int:
        cutoff = to_us(ended_before)
        removed = 0
        for table, cells_table in (
            (schema.operational_intents, schema.operational_intent_cells),
            (schema.constraints, schema.constraint_cells),
        ):
            ids = [
                r.id
                for r in self._conn.execute(select(table.c.id).where(table.c.time_end_us < cutoff))
            ]
            for entity_id in ids:
                self._delete(table, cells_table, entity_id)
            removed += len(ids)
        subs = schema.subscriptions
        ops = schema.operational_intents
        sub_ids = [
            r.id
            for r in self._conn.execute(
                select(subs.c.id).where(
                    subs.c.time_end_us < cutoff,
                    ~select(ops.c.id).where(ops.c.subscription_id == subs.c.id).exists(),
                )
            )
        ]
        for sub_id in sub_ids:
            self._delete(subs, schema.subscription_cells, sub_id)
        return removed + len(sub_ids)


class SqlAirspaceStore:
    """``airspace.store.AirspaceStore`` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        url = engine.url.render_as_string(hide_password=False)
        self._writer_lock = None if self._postgres else SqliteWriterLock.for_url(url)

    @classmethod
    def from_url(cls, url: str) -> SqlAirspaceStore:
        return cls(build_engine(normalise_url(url)))

    @property
    def engine(self) -> Engine:
        return self._engine

    def write(self, work: Callable[[SqlAirspaceTx], T]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                if self._writer_lock is not None:
                    with self._writer_lock:
                        return self._run(work, begin_mode="IMMEDIATE")
                return self._run(work, begin_mode=None)
            except (OperationalError, DBAPIError) as exc:
                if attempt == MAX_ATTEMPTS or not self._is_retryable(exc):
                    raise
                logger.info(
                    "retrying write transaction after %s (attempt %d)",
                    type(exc.orig).__name__,
                    attempt,
                )
                time.sleep(RETRY_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    def read(self, work: Callable[[SqlAirspaceTx], T]) -> T:
        return self._run(work, begin_mode=None)

    def _run(self, work: Callable[[SqlAirspaceTx], T], begin_mode: str | None) -> T:
        with self._engine.connect() as conn:
            if begin_mode is not None:
                conn.info["begin_mode"] = begin_mode
            try:
                with conn.begin():
                    return work(SqlAirspaceTx(conn, postgres=self._postgres))
            finally:
                conn.info.pop("begin_mode", None)

    def _is_retryable(self, exc: DBAPIError) -> bool:
        if self._postgres:
            return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_PG_CODES
        return "database is locked" in str(exc.orig) or "busy" in str(exc.orig)

    def close(self) -> None:
        self._engine.dispose()


def open_airspace_store(url: str) -> SqlAirspaceStore:
    """Open the store at ``url``; the schema must have been migrated (``dronecoop db upgrade``)."""
    return SqlAirspaceStore.from_url(url)


__all__ = [
    "SqlAirspaceStore",
    "SqlAirspaceTx",
    "from_us",
    "is_sqlite",
    "open_airspace_store",
    "to_us",
]
