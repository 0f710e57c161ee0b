"""SQL implementation of the airspace store, for SQLite and PostgreSQL alike.

Statements are plain SQL executed on the driver's cursor (PostgreSQL: a connection from
a ``psycopg_pool`` pool; SQLite: a SQLAlchemy-managed one): building SQLAlchemy
expressions cost ~0.2 ms per statement, more than the statements themselves, on the DSS's
hottest path. The schema and its migrations stay in SQLAlchemy/Alembic (``store.schema``).

Concurrency discipline (see ``airspace.store``):
- SQLite: one writer at a time (an in-process lock plus ``BEGIN IMMEDIATE``), readers in
  WAL snapshots; ``lock_cells`` has nothing left to do.
- PostgreSQL: READ COMMITTED, and ``lock_cells`` takes transaction-scoped advisory locks
  on the S2 cells in ascending order, so writers over shared cells run one after another
  while writers elsewhere run in parallel. Deadlocks, serialisation failures and
  same-id create races (primary key) are retried a bounded number of times.

Every statement costs ~40 us of client CPU and as much on the server, so on PostgreSQL
new rows are queued and inserted together just before the next statement (``flush``), and
statements travel through ``pg_batch`` several to a round trip (``BEGIN`` with the first,
``COMMIT`` with the last, a create's key-check search with its locking read).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

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
    from_us,
    to_us,
)
from dronecoop.airspace.store import WriteRead
from dronecoop.store.audit_sql import AUDIT_COLUMNS, audit_values
from dronecoop.store.engine import (
    SqliteWriterLock,
    build_engine,
    build_pg_pool,
    is_sqlite,
    normalise_url,
)
from dronecoop.store.pg_batch import LOST_STATEMENT_CODES, Batch, PreparedStatements
from dronecoop.trust.audit import AuditEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 8
MAX_DEFERRED = 8  # queued INSERTs per combined statement (PostgreSQL allows 65,535 params)
MAX_AHEAD = 64  # queued statements per message
RETRY_BACKOFF_S = 0.005
# PostgreSQL SQLSTATEs worth a retry: serialization_failure, deadlock_detected, and
# unique_violation: two creates of one id both found it absent; run again, the loser sees it.
_RETRYABLE_PG_CODES = {"40001", "40P01", "23505"} | LOST_STATEMENT_CODES

_OI = "scd_operational_intents"
_CR = "scd_constraints"
_SUB = "scd_subscriptions"
_OI_COLS = (
    "id, manager, version, state, ovn, uss_base_url, subscription_id, "
    "time_start_us, time_end_us, altitude_lower_m, altitude_upper_m, cells, updated_at_us, partner"
)
# Operational intents are read with their manager's availability (InterUSS joins the same).
_OI_SELECT = (
    "SELECT o.id, o.manager, o.version, o.state, o.ovn, o.uss_base_url, o.subscription_id, "
    "o.time_start_us, o.time_end_us, o.altitude_lower_m, o.altitude_upper_m, o.cells, "
    "o.updated_at_us, a.availability, o.partner "
    f"FROM {_OI} o LEFT JOIN scd_uss_availability a ON a.uss_id = o.manager"
)
_CR_COLS = (
    "id, manager, version, ovn, uss_base_url, "
    "time_start_us, time_end_us, altitude_lower_m, altitude_upper_m, cells, updated_at_us, "
    "partner"
)
_SUB_COLS = (
    "id, manager, version, uss_base_url, notification_index, notify_for_operational_intents, "
    "notify_for_constraints, implicit, "
    "time_start_us, time_end_us, altitude_lower_m, altitude_upper_m, cells, updated_at_us, "
    "partner"
)


def pack_cells(cells: Iterable[int]) -> bytes:
    ordered = sorted(cells)
    return struct.pack(f"<{len(ordered)}q", *ordered)


def _bigint_array(values: Iterable[int]) -> str:
    """A PostgreSQL ``bigint[]`` literal: psycopg's list adapter costs ~10x more per call."""
    return "{" + ",".join(map(str, sorted(values))) + "}"


def unpack_cells(blob: bytes | memoryview) -> frozenset[int]:
    data = bytes(blob)
    return frozenset(struct.unpack(f"<{len(data) // 8}q", data))


def _footprint(row: Sequence[Any], at: int) -> Footprint:
    """The footprint stored in ``row[at:at + 5]`` (start, end, lower, upper, cells)."""
    return Footprint(
        cells=unpack_cells(row[at + 4]),
        time_start=from_us(row[at]),
        time_end=from_us(row[at + 1]),
        altitude_lower_w84_m=row[at + 2],
        altitude_upper_w84_m=row[at + 3],
    )


def _footprint_values(fp: Footprint) -> tuple[Any, ...]:
    return (
        to_us(fp.time_start),
        to_us(fp.time_end),
        fp.altitude_lower_w84_m,
        fp.altitude_upper_w84_m,
        pack_cells(fp.cells),
    )


@functools.cache
def _audit_insert_sql(n_values: int) -> str:
    return f"INSERT INTO audit_pending ({AUDIT_COLUMNS}) VALUES ({', '.join('?' * n_values)})"


@functools.cache
def _write_sql(table: str, cols: str) -> tuple[str, str]:
    """INSERT and UPDATE-by-id statements for ``table``'s ``cols`` (id first), built once."""
    names = [c.strip() for c in cols.split(",")]
    insert = f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * len(names))})"
    update = f"UPDATE {table} SET {', '.join(f'{n} = ?' for n in names[1:])} WHERE id = ?"
    return insert, update


_SUB_NOTIFICATION_INDEX = 4  # in _SUB_COLS


def _interested(sub: Subscription, area: Footprint, for_constraints: bool) -> bool:
    """Whether ``notify_subscriptions(area)`` selects ``sub`` (its SQL, over one row)."""
    wants = sub.notify_for_constraints if for_constraints else sub.notify_for_operational_intents
    fp = sub.footprint
    return (
        wants
        and not fp.cells.isdisjoint(area.cells)
        and to_us(fp.time_end) >= to_us(area.time_start)
        and to_us(fp.time_start) <= to_us(area.time_end)
    )


def _previous_footprint(
    previous: OperationalIntentRef | ConstraintRef | Subscription | None,
) -> Footprint | None:
    return None if previous is None else previous.footprint


def _op_from_row(row: Sequence[Any]) -> OperationalIntentRef:
    return OperationalIntentRef(
        id=EntityID(row[0]),
        manager=ManagerID(row[1]),
        version=row[2],
        state=OperationalIntentState(row[3]),
        ovn=row[4],
        uss_base_url=row[5],
        subscription_id=SubscriptionID(row[6]) if row[6] else None,
        footprint=_footprint(row, 7),
        updated_at=from_us(row[12]),
        uss_availability=UssAvailability(row[13] or UssAvailability.UNKNOWN.value),
        partner=row[14],
    )


def _constraint_from_row(row: Sequence[Any]) -> ConstraintRef:
    return ConstraintRef(
        id=EntityID(row[0]),
        manager=ManagerID(row[1]),
        version=row[2],
        ovn=row[3],
        uss_base_url=row[4],
        footprint=_footprint(row, 5),
        updated_at=from_us(row[10]),
        partner=row[11],
    )


def _subscription_from_row(row: Sequence[Any]) -> Subscription:
    return Subscription(
        id=SubscriptionID(row[0]),
        manager=ManagerID(row[1]),
        version=row[2],
        uss_base_url=row[3],
        notification_index=row[4],
        notify_for_operational_intents=bool(row[5]),
        notify_for_constraints=bool(row[6]),
        implicit=bool(row[7]),
        footprint=_footprint(row, 8),
        updated_at=from_us(row[13]),
        partner=row[14],
    )


class _Rows:
    """The rows of one statement sent through a ``Batch``, read like a cursor's."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


class SqlAirspaceTx:
    """One transaction on a driver connection; implements ``airspace.store.AirspaceTx``.

    PostgreSQL statements go through a ``pg_batch.Batch``: a write transaction's ``BEGIN``
    rides with its first statement, and the last statement may carry the ``COMMIT``
    (``notify_subscriptions(final=True)``); a read runs each statement on its own (READ
    COMMITTED gives each statement its own snapshot inside a transaction too).
    """

    def __init__(
        self,
        dbapi_connection: Any,
        *,
        postgres: bool,
        batch: Batch | None = None,
        write: bool = True,
    ) -> None:
        self._postgres = postgres
        if postgres:
            if batch is None:
                raise ValueError("a PostgreSQL transaction needs a Batch")
            self._batch = batch
        else:
            self._cursor = dbapi_connection.cursor()
        self._write = write
        self._locked_cells: set[int] = set()
        # PostgreSQL: statements whose result nobody reads (cell locks, UPDATEs, DELETEs)
        # wait here, in call order, to go out at the head of the next message.
        self._ahead: list[tuple[str, list[Any]]] = []
        # PostgreSQL: INSERTs of new rows wait here and go out as one statement just before
        # the next statement or the commit (each statement costs ~40 us of client CPU).
        self._pending: list[tuple[str, list[Any]]] = []
        # Subscriptions among the queued INSERTs, with their queued parameters: a
        # notification sent in the same statement cannot see them (``notify_subscriptions``).
        self._pending_subs: list[tuple[Subscription, list[Any]]] = []
        self._audit: list[AuditEvent] = []

    # -- SQL dialect ---------------------------------------------------------------------
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run ``sql`` written with ``?`` placeholders on either driver."""
        if self._postgres:
            return _Rows(self._send([(sql, list(params))])[0])
        self._cursor.execute(sql, params)
        return self._cursor

    def _send(
        self, statements: list[tuple[str, list[Any]]], *, commit: bool = False
    ) -> list[list[Any]]:
        """PostgreSQL: the queued statements (in call order, the queued INSERTs last),
        then ``statements``, in one message; the rows of each of ``statements``."""
        head, self._ahead = self._ahead, []
        if self._pending:
            head.append(self._with_pending("SELECT 1", []))
        results = self._batch.send(head + statements, begin=self._write, commit=commit)
        return results[len(head) :]

    def _queue(self, sql: str, params: list[Any]) -> None:
        """Run ``sql`` before the next statement, in its message (PostgreSQL), or now.

        The queued INSERTs go ahead of it, so statements still run in call order.
        """
        if not self._postgres:
            self._exec(sql, params)
            return
        self._check_queueable()
        if self._pending:
            self._ahead.append(self._with_pending("SELECT 1", []))
        self._ahead.append((sql, params))
        if len(self._ahead) >= MAX_AHEAD:  # bulk deletes (expiry) flush as they go
            self.flush()

    def _defer(self, sql: str, params: list[Any]) -> None:
        """Queue a data-modifying statement whose result nobody reads (PostgreSQL)."""
        self._check_queueable()
        if len(self._pending) >= MAX_DEFERRED:  # bulk writers (imports) flush as they go
            self.flush()
        self._pending.append((sql, params))

    def _check_queueable(self) -> None:
        """A queued write must belong to an open write transaction: a read transaction's
        statements commit one by one, and after a COMMIT nothing may follow."""
        if not self._write:
            raise RuntimeError("a read transaction may not write")
        if self._batch.commit_sent:
            raise RuntimeError("this transaction was committed: no statement may follow")

    def flush(self) -> None:
        """Send the queued statements (PostgreSQL) in one round trip."""
        if self._ahead or self._pending:
            self._send([])

    def _with_pending(self, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        """``sql`` with the queued INSERTs as CTEs of one statement (taking them off the
        queue); a lone INSERT stands as itself where ``sql`` is only ``SELECT 1``."""
        pending, self._pending = self._pending, []
        self._pending_subs.clear()
        if sql == "SELECT 1" and len(pending) == 1:
            return pending[0]
        ctes = [f"w{i} AS ({q})" for i, (q, _) in enumerate(pending)]
        ctes.append(f"main AS ({sql})")
        values = [p for _, ps in pending for p in ps] + params
        return f"WITH {', '.join(ctes)} SELECT * FROM main", values

    def _exec_with_pending(self, sql: str, params: list[Any], *, commit: bool = False) -> _Rows:
        """Run ``sql`` (PostgreSQL, a data-modifying statement with RETURNING) together with
        the queued INSERTs as CTEs of one statement: one round trip instead of two.

        Every part of a statement sees the same snapshot, so ``sql`` does not see the rows
        queued beside it; callers whose ``sql`` would have read them must allow for that.
        ``commit`` commits the transaction in the same round trip.
        """
        return _Rows(self._send([self._with_pending(sql, params)], commit=commit)[0])

    # -- audit ---------------------------------------------------------------------------
    def audit(self, event: AuditEvent) -> None:
        """Record ``event`` for the audit chain, committed with this transaction.

        PostgreSQL queues its INSERT at once, to ride with the next statement.
        """
        if self._postgres:
            values = list(audit_values(event))
            self._defer(_audit_insert_sql(len(values)), values)
        else:
            self._audit.append(event)

    def finish(self) -> None:
        """End the work: PostgreSQL sends what is still queued with the COMMIT (where it
        may ride); SQLite writes the audit events, its caller then commits.

        Events go to ``audit_pending``, which takes no lock any other writer wants; the
        sealer (``SqlAuditLog.seal``) links them into the chain moments later. Linking
        here instead would make every audited write in the database queue on the chain's
        head row until its commit was flushed to disk.
        """
        if self._postgres:
            if self._ahead or self._pending:
                self._send([], commit=True)
            if not self._batch.commit_sent:
                self._batch.commit()  # no-op outside a transaction
            return
        for event in self._audit:
            values = list(audit_values(event))
            self._exec(_audit_insert_sql(len(values)), values)
        self._audit.clear()

    def _in(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        """``column IN values`` as SQL and parameters for this driver."""
        ordered = sorted(values)
        if self._postgres:
            return f"{column} = ANY(?)", [ordered]
        return f"{column} IN ({','.join('?' * len(ordered))})", ordered

    def _in_cells(self, column: str, cells: Collection[int]) -> tuple[str, list[Any]]:
        """``column IN cells``; on PostgreSQL the cells travel as one ``bigint[]`` literal."""
        if self._postgres:
            return f"{column} = ANY(CAST(? AS bigint[]))", [_bigint_array(cells)]
        return self._in(column, cells)

    # -- locking -------------------------------------------------------------------------
    def lock_cells(self, cells: Iterable[int]) -> None:
        if not self._postgres:
            return  # the single SQLite writer already excludes every other writer
        # A transaction-scoped advisory lock is held until commit: never ask for it twice.
        ordered = sorted(set(cells) - self._locked_cells)
        self._locked_cells.update(ordered)
        if ordered:
            # Sent at the head of the next message, as its own statement: whatever follows
            # runs, with its own snapshot, once the locks are held.
            self._queue(
                "SELECT pg_advisory_xact_lock(c) FROM unnest(CAST(? AS bigint[])) AS c",
                [_bigint_array(ordered)],
            )

    # -- generic helpers -----------------------------------------------------------------
    def _get(self, select: str, entity_id: str, for_update: bool) -> Any:
        # FOR UPDATE OF o: lock the entity's row only, not the joined availability row.
        lock = " FOR UPDATE OF o" if for_update and self._postgres else ""
        return self._exec(f"{select} WHERE o.id = ?{lock}", [entity_id]).fetchone()

    def _area_filter(self, table: str, area: Footprint) -> tuple[list[str], list[Any]]:
        """SQL conditions on alias ``o`` selecting rows of ``table`` that meet ``area``."""
        cells_sql, params = self._in_cells("cell_id", area.cells)
        start_us, end_us = to_us(area.time_start), to_us(area.time_end)
        sql = [
            f"o.id IN (SELECT entity_id FROM {table[:-1]}_cells WHERE {cells_sql} "
            "AND time_end_us >= ? AND time_start_us <= ?)",
            "AND o.time_end_us >= ? AND o.time_start_us <= ?",
        ]
        params += [start_us, end_us, start_us, end_us]
        if area.altitude_upper_w84_m is not None:
            sql.append("AND (o.altitude_lower_m IS NULL OR o.altitude_lower_m <= ?)")
            params.append(area.altitude_upper_w84_m)
        if area.altitude_lower_w84_m is not None:
            sql.append("AND (o.altitude_upper_m IS NULL OR o.altitude_upper_m >= ?)")
            params.append(area.altitude_lower_w84_m)
        return sql, params

    def _search_sql(
        self, select: str, table: str, area: Footprint, now: datetime | None
    ) -> tuple[str, list[Any]]:
        conditions, params = self._area_filter(table, area)
        if now is not None:
            conditions.append("AND o.time_end_us >= ?")
            params.append(to_us(now))
        return f"{select} WHERE {' '.join(conditions)} ORDER BY o.id", params

    def _search(self, select: str, table: str, area: Footprint, now: datetime | None) -> list[Any]:
        if not area.cells:
            return []
        return list(self._exec(*self._search_sql(select, table, area, now)).fetchall())

    def _put(
        self,
        table: str,
        cols: str,
        values: tuple[Any, ...],
        footprint: Footprint,
        previous: Footprint | None,
    ) -> list[Any] | None:
        """Write the row and its cells; on PostgreSQL a new row's INSERT is queued and its
        parameters (a list the caller may still amend) returned."""
        entity_id = values[0]
        cells = footprint.cells
        start_us, end_us = to_us(footprint.time_start), to_us(footprint.time_end)
        cells_table = f"{table[:-1]}_cells"
        insert_sql, update_sql = _write_sql(table, cols)
        if previous is None and self._postgres:
            row = list(values)
            self._defer(insert_sql, row)
            if cells:
                self._defer(
                    f"INSERT INTO {cells_table} (cell_id, entity_id, time_start_us, time_end_us) "
                    "SELECT unnest(CAST(? AS bigint[])), ?, ?, ?",
                    [_bigint_array(cells), entity_id, start_us, end_us],
                )
            return row
        if previous is None:
            self._exec(insert_sql, values)
            old_cells: frozenset[int] = frozenset()
        else:
            self._queue(update_sql, [*values[1:], entity_id])
            old_cells = previous.cells
            if (previous.time_start, previous.time_end) != (
                footprint.time_start,
                footprint.time_end,
            ):
                self._queue(
                    f"UPDATE {cells_table} SET time_start_us = ?, time_end_us = ? "
                    "WHERE entity_id = ?",
                    [start_us, end_us, entity_id],
                )
        removed = old_cells - cells
        added = cells - old_cells
        if removed:
            in_sql, params = self._in_cells("cell_id", removed)
            self._queue(
                f"DELETE FROM {cells_table} WHERE entity_id = ? AND {in_sql}", [entity_id, *params]
            )
        if added:
            if self._postgres:
                self._queue(
                    f"INSERT INTO {cells_table} (cell_id, entity_id, time_start_us, time_end_us) "
                    "SELECT unnest(CAST(? AS bigint[])), ?, ?, ?",
                    [_bigint_array(added), entity_id, start_us, end_us],
                )
            else:
                self._cursor.executemany(
                    f"INSERT INTO {cells_table} (cell_id, entity_id, time_start_us, time_end_us) "
                    "VALUES (?, ?, ?, ?)",
                    [(cell, entity_id, start_us, end_us) for cell in sorted(added)],
                )
        return None

    def _delete(self, table: str, entity_id: str) -> None:
        self._queue(f"DELETE FROM {table[:-1]}_cells WHERE entity_id = ?", [entity_id])
        self._queue(f"DELETE FROM {table} WHERE id = ?", [entity_id])

    # -- operational intents -------------------------------------------------------------
    def get_operational_intent(
        self, entity_id: EntityID, *, for_update: bool = False
    ) -> OperationalIntentRef | None:
        row = self._get(_OI_SELECT, entity_id, for_update)
        return None if row is None else _op_from_row(row)

    def get_operational_intent_for_write(
        self,
        entity_id: EntityID,
        manager: str,
        *,
        lock_cells: Iterable[int] = (),
        search: Footprint | None = None,
    ) -> WriteRead:
        cols = _OI_SELECT.split(" FROM ")[0]
        params: list[Any] = [entity_id, manager]
        head, one = "", "(SELECT 1) one"
        if self._postgres:
            source = f"LEFT JOIN LATERAL (SELECT * FROM {_OI} WHERE id = ? FOR UPDATE) o ON true"
            to_lock = sorted(set(lock_cells) - self._locked_cells)
            if to_lock:
                # Row lock first, then the cells (ascending), as every writer of an existing
                # entity takes them: a create of an id that exists racing its update or
                # delete must not wait in the opposite order (a deadlock, found after 1 s).
                # The filter's sub-select runs before the first lock is projected.
                self._locked_cells.update(to_lock)
                head = (
                    f"WITH r AS MATERIALIZED (SELECT * FROM {_OI} WHERE id = ? FOR UPDATE), "
                    "l AS MATERIALIZED (SELECT pg_advisory_xact_lock(c) "
                    "FROM unnest(CAST(? AS bigint[])) AS c WHERE (SELECT count(*) FROM r) >= 0) "
                )
                one = "(SELECT count(*) FROM l) one"
                source = "LEFT JOIN r o ON true"
                params.insert(1, _bigint_array(to_lock))
        else:
            source = f"LEFT JOIN {_OI} o ON o.id = ?"
        read = (
            f"{head}{cols}, me.availability FROM {one} {source} "
            "LEFT JOIN scd_uss_availability a ON a.uss_id = o.manager "
            "LEFT JOIN scd_uss_availability me ON me.uss_id = ?"
        )
        found: list[OperationalIntentRef] | None = None
        if (
            self._postgres
            and search is not None
            and search.cells
            and search.cells <= self._locked_cells
        ):
            # The search runs after the read in the same message, with its own snapshot:
            # it sees every write that committed while the read waited for the locks.
            rows, found_rows = self._send(
                [(read, params), self._search_sql(_OI_SELECT, _OI, search, None)]
            )
            row = rows[0]
            found = [_op_from_row(r) for r in found_rows]
        else:
            row = self._exec(read, params).fetchone()
            if search is not None:
                found = self.search_operational_intents(search)
        own = UssAvailability(row[15]) if row[15] else None
        return WriteRead((None if row[0] is None else _op_from_row(row)), own, found)

    def search_operational_intents(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[OperationalIntentRef]:
        return [_op_from_row(row) for row in self._search(_OI_SELECT, _OI, area, now)]

    def put_operational_intent(
        self, ref: OperationalIntentRef, previous: OperationalIntentRef | None
    ) -> None:
        values = (
            ref.id,
            ref.manager,
            ref.version,
            ref.state.value,
            ref.ovn,
            ref.uss_base_url,
            ref.subscription_id,
            *_footprint_values(ref.footprint),
            to_us(ref.updated_at),
            ref.partner,
        )
        self._put(_OI, _OI_COLS, values, ref.footprint, _previous_footprint(previous))

    def delete_operational_intent(self, entity_id: EntityID) -> None:
        self._delete(_OI, entity_id)

    # -- constraints ---------------------------------------------------------------------
    def get_constraint(
        self, entity_id: EntityID, *, for_update: bool = False
    ) -> ConstraintRef | None:
        row = self._get(f"SELECT {_CR_COLS} FROM {_CR} o", entity_id, for_update)
        return None if row is None else _constraint_from_row(row)

    def search_constraints(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[ConstraintRef]:
        rows = self._search(f"SELECT {_CR_COLS} FROM {_CR} o", _CR, area, now)
        return [_constraint_from_row(row) for row in rows]

    def put_constraint(self, ref: ConstraintRef, previous: ConstraintRef | None) -> None:
        values = (
            ref.id,
            ref.manager,
            ref.version,
            ref.ovn,
            ref.uss_base_url,
            *_footprint_values(ref.footprint),
            to_us(ref.updated_at),
            ref.partner,
        )
        self._put(_CR, _CR_COLS, values, ref.footprint, _previous_footprint(previous))

    def delete_constraint(self, entity_id: EntityID) -> None:
        self._delete(_CR, entity_id)

    # -- subscriptions -------------------------------------------------------------------
    def get_subscription(
        self, subscription_id: SubscriptionID, *, for_update: bool = False
    ) -> Subscription | None:
        row = self._get(f"SELECT {_SUB_COLS} FROM {_SUB} o", subscription_id, for_update)
        return None if row is None else _subscription_from_row(row)

    def search_subscriptions(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[Subscription]:
        rows = self._search(f"SELECT {_SUB_COLS} FROM {_SUB} o", _SUB, area, now)
        return [_subscription_from_row(row) for row in rows]

    def put_subscription(self, sub: Subscription, previous: Subscription | None) -> None:
        values = (
            sub.id,
            sub.manager,
            sub.version,
            sub.uss_base_url,
            sub.notification_index,
            sub.notify_for_operational_intents,
            sub.notify_for_constraints,
            sub.implicit,
            *_footprint_values(sub.footprint),
            to_us(sub.updated_at),
            sub.partner,
        )
        queued = self._put(_SUB, _SUB_COLS, values, sub.footprint, _previous_footprint(previous))
        # Still queued unless a full queue was flushed right after it (a bulk writer).
        if queued is not None and any(params is queued for _, params in self._pending):
            self._pending_subs.append((sub, queued))

    def delete_subscription(self, subscription_id: SubscriptionID) -> None:
        self._delete(_SUB, subscription_id)

    def notify_subscriptions(
        self, area: Footprint, *, for_constraints: bool, final: bool = False
    ) -> list[tuple[SubscriptionID, str, int]]:
        if not area.cells:
            return []
        # ``final``: nothing follows in this transaction, so PostgreSQL commits in the
        # statement's round trip (SQLite commits as usual).
        commit = final and self._postgres
        flag = "notify_for_constraints" if for_constraints else "notify_for_operational_intents"
        ignoring_altitude = replace(area, altitude_lower_w84_m=None, altitude_upper_w84_m=None)
        conditions, params = self._area_filter(_SUB, ignoring_altitude)
        # PostgreSQL: lock the rows in id order first, so concurrent notifiers never deadlock.
        lock = " ORDER BY o.id FOR UPDATE" if self._postgres else ""
        sql = (
            f"UPDATE {_SUB} SET notification_index = notification_index + 1 WHERE id IN "
            f"(SELECT o.id FROM {_SUB} o WHERE o.{flag} AND {' '.join(conditions)}{lock}) "
            "RETURNING id, uss_base_url, notification_index"
        )
        if not self._pending:
            if self._postgres:
                rows = self._send([(sql, params)], commit=commit)[0]
            else:
                rows = self._exec(sql, params).fetchall()
            return sorted((SubscriptionID(r[0]), r[1], r[2]) for r in rows)
        # The queued INSERTs go out in this statement, which cannot see their rows: bump
        # the queued subscriptions that qualify here, as the UPDATE would have.
        notices: list[tuple[SubscriptionID, str, int]] = []
        for sub, queued in self._pending_subs:
            if _interested(sub, area, for_constraints):
                queued[_SUB_NOTIFICATION_INDEX] = sub.notification_index + 1
                notices.append((sub.id, sub.uss_base_url, sub.notification_index + 1))
        rows = self._exec_with_pending(sql, params, commit=commit).fetchall()
        notices += [(SubscriptionID(r[0]), r[1], r[2]) for r in rows]
        return sorted(notices)

    def dependent_operational_intents(self, subscription_id: SubscriptionID) -> list[EntityID]:
        rows = self._exec(
            f"SELECT id FROM {_OI} WHERE subscription_id = ? ORDER BY id", [subscription_id]
        ).fetchall()
        return [EntityID(row[0]) for row in rows]

    # -- USS availability ----------------------------------------------------------------
    def get_uss_availability(self, uss_id: str) -> UssAvailabilityStatus | None:
        row = self._exec(
            "SELECT uss_id, availability, version, updated_at_us "
            "FROM scd_uss_availability WHERE uss_id = ?",
            [uss_id],
        ).fetchone()
        if row is None:
            return None
        return UssAvailabilityStatus(
            uss_id=row[0],
            availability=UssAvailability(row[1]),
            version=row[2],
            updated_at=from_us(row[3]),
        )

    def get_uss_availabilities(self, uss_ids: Collection[str]) -> dict[str, UssAvailability]:
        if not uss_ids:
            return {}
        in_sql, params = self._in("uss_id", set(uss_ids))
        rows = self._exec(
            f"SELECT uss_id, availability FROM scd_uss_availability WHERE {in_sql}", params
        ).fetchall()
        return {row[0]: UssAvailability(row[1]) for row in rows}

    def put_uss_availability(self, status: UssAvailabilityStatus) -> None:
        self._exec(
            "INSERT INTO scd_uss_availability (uss_id, availability, version, updated_at_us) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (uss_id) DO UPDATE SET "
            "availability = excluded.availability, version = excluded.version, "
            "updated_at_us = excluded.updated_at_us",
            [
                status.uss_id,
                status.availability.value,
                status.version,
                to_us(status.updated_at or datetime.now(UTC)),
            ],
        )

    # -- reports and housekeeping --------------------------------------------------------
    def put_report(self, report_id: str, reporter: str, body_json: str, at: datetime) -> None:
        self._exec(
            "INSERT INTO dss_reports (id, reporter, body, created_at_us) VALUES (?, ?, ?, ?)",
            [report_id, reporter, body_json, to_us(at)],
        )

    def delete_expired(self, ended_before: datetime) -> int:
        cutoff = to_us(ended_before)
        removed = 0
        for table in (_OI, _CR):
            ids = [
                r[0]
                for r in self._exec(
                    f"SELECT id FROM {table} WHERE time_end_us < ?", [cutoff]
                ).fetchall()
            ]
            for entity_id in ids:
                self._delete(table, entity_id)
            removed += len(ids)
        sub_ids = [
            r[0]
            for r in self._exec(
                f"SELECT s.id FROM {_SUB} s WHERE s.time_end_us < ? AND NOT EXISTS "
                f"(SELECT 1 FROM {_OI} o WHERE o.subscription_id = s.id)",
                [cutoff],
            ).fetchall()
        ]
        for sub_id in sub_ids:
            self._delete(_SUB, sub_id)
        return removed + len(sub_ids)


class _Retry(Exception):
    """The transaction failed before committing in a way that running it again can fix."""


class SqlAirspaceStore:
    """``airspace.store.AirspaceStore`` on SQLite (SQLAlchemy engine) or PostgreSQL.

    PostgreSQL connections come from a ``psycopg_pool`` pool rather than SQLAlchemy's:
    checkout, commit and return cost ~40 us less per transaction there, and the DSS runs
    one short transaction per request. Connections are not pinged on checkout (a round
    trip per request); one found dead before the commit was sent is dropped and the whole
    transaction runs again on another.
    """

    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self._postgres = not is_sqlite(url)
        self._engine: Engine | None = None
        self._pool: ConnectionPool | None = None
        self._writer_lock: threading.Lock | None = None
        self._prepared = PreparedStatements()
        if self._postgres:
            self._pool = build_pg_pool(url)
        else:
            self._engine = build_engine(url)
            self._writer_lock = SqliteWriterLock.for_url(url)

    @classmethod
    def from_url(cls, url: str) -> SqlAirspaceStore:
        return cls(url)

    def write(self, work: Callable[[SqlAirspaceTx], T]) -> T:
        if self._writer_lock is not None:
            return self._retrying(work, begin_mode="IMMEDIATE", lock=self._writer_lock)
        return self._retrying(work, begin_mode=None, lock=None)

    def read(self, work: Callable[[SqlAirspaceTx], T]) -> T:
        return self._retrying(work, begin_mode=None, lock=None, write=False)

    def _retrying(
        self,
        work: Callable[[SqlAirspaceTx], T],
        *,
        begin_mode: str | None,
        lock: threading.Lock | None,
        write: bool = True,
    ) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with lock or contextlib.nullcontext():
                    return self._run(work, begin_mode, write)
            except _Retry as retry:
                cause = retry.__cause__
                assert cause is not None
                if attempt == MAX_ATTEMPTS:
                    raise cause from None
                logger.info("retrying after %s (attempt %d)", type(cause).__name__, attempt)
                time.sleep(RETRY_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    def _run(self, work: Callable[[SqlAirspaceTx], T], begin_mode: str | None, write: bool) -> T:
        """Run ``work`` in one transaction; raise ``_Retry`` where running it again is safe."""
        if self._pool is not None:
            return self._run_postgres(self._pool, work, write)
        assert self._engine is not None
        with self._engine.connect() as conn:
            if begin_mode is not None:
                conn.info["begin_mode"] = begin_mode
            try:
                try:
                    with conn.begin():
                        dbapi_connection = conn.connection.dbapi_connection
                        tx = SqlAirspaceTx(dbapi_connection, postgres=False, write=write)
                        result = work(tx)
                        tx.finish()
                        return result
                except (DBAPIError, sqlite3.OperationalError) as exc:
                    orig = exc.orig if isinstance(exc, DBAPIError) else exc
                    if "locked" in str(orig) or "busy" in str(orig):
                        raise _Retry from exc
                    raise
            finally:
                conn.info.pop("begin_mode", None)

    def _run_postgres(
        self, pool: ConnectionPool, work: Callable[[SqlAirspaceTx], T], write: bool
    ) -> T:
        with pool.connection() as conn:
            batch = Batch(conn, self._prepared)
            try:
                tx = SqlAirspaceTx(conn, postgres=True, batch=batch, write=write)
                result = work(tx)
                tx.finish()
            except BaseException as exc:
                if conn.broken or conn.closed:
                    # The server dropped it (restart, idle timeout): so it likely did its
                    # siblings. The pool discards this one; check the idle ones now.
                    pool.check()
                    if batch.commit_sent:
                        raise  # the COMMIT went out with the last statement: it may have landed
                    raise _Retry from exc
                batch.rollback()
                if isinstance(exc, psycopg.Error) and exc.sqlstate in _RETRYABLE_PG_CODES:
                    # A statement failed, so PostgreSQL skipped any COMMIT sent after it.
                    raise _Retry from exc
                raise
            return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._engine is not None:
            self._engine.dispose()


def open_airspace_store(url: str) -> SqlAirspaceStore:
    """Open the store at ``url``; the schema must have been migrated (``dronecoop db upgrade``)."""
    return SqlAirspaceStore.from_url(url)
