"""The audit sealer's cost per event: ``SqlAuditLog.seal`` against the sealer it replaced.

Each node seals pending audit events every second, on a worker thread of a process that
is also serving requests, so its CPU is taken from them. The baseline is the previous
sealer, kept here: an ``AuditEvent`` built per row, ``event_digest``, one INSERT per event
(the driver's ``executemany``). Both seal the same number of events per round, rounds
interleaved, on SQLite and (where a URL is known) PostgreSQL; the chain is verified after.

    .venv/bin/python bench/audit.py [--events 1000] [--rounds 7] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.common import print_table
from bench.dss import database, pg_admin_url
from dronecoop.store.audit_sql import AUDIT_COLUMNS, SqlAuditLog, _event, audit_values
from dronecoop.store.engine import write_transaction
from dronecoop.store.migrate import upgrade
from dronecoop.trust.audit import AuditEvent, chain, event_digest, verify_chain
from dronecoop.trust.errors import AuditChainError

_NAMES = [c.strip() for c in AUDIT_COLUMNS.split(",")]


def pending_events(log: SqlAuditLog, n: int, start: datetime) -> None:
    """Write ``n`` events to ``audit_pending``, as audited writes would."""
    rows = [
        audit_values(
            AuditEvent(
                partner="rok-army",
                actor=f"planner-{i % 7}",
                action="dss.operational_intent.create",
                target_kind="operational_intent",
                target_id=f"6f1c1b2e-0000-4000-8000-{i:012d}",
                before_digest=None,
                after_digest=f"{i:064x}",
                at=start + timedelta(milliseconds=i),
            )
        )
        for i in range(n)
    ]
    with write_transaction(log._engine, log._url) as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        marks = ", ".join(["?" if log._sqlite else "%s"] * len(_NAMES))
        cursor.executemany(
            f"INSERT INTO audit_pending ({AUDIT_COLUMNS}) VALUES ({marks})",  # noqa: S608
            rows,
        )


def baseline_seal(log: SqlAuditLog, max_events: int = 5000) -> int:
    """The sealer before session 7 (an event object and an INSERT per row)."""
    sqlite = log._sqlite
    with write_transaction(log._engine, log._url) as conn:
        lock = "" if sqlite else " FOR UPDATE"
        head = conn.execute(text(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")).first()  # noqa: S608
        if head is None:
            raise AuditChainError("no head row")
        rows = conn.execute(
            text(f"SELECT id, {AUDIT_COLUMNS} FROM audit_pending ORDER BY id LIMIT {max_events}")  # noqa: S608
        ).all()
        seq, previous = int(head[0]), bytes(head[1])
        sealed = []
        for row in rows:
            event = _event(row[1:])  # what the old sealer built per row
            seq, previous = seq + 1, chain(previous, event_digest(event))
            sealed.append((seq, previous, *row[1:]))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        marks = ", ".join(["?" if sqlite else "%s"] * (2 + len(_NAMES)))
        cursor.executemany(
            f"INSERT INTO audit_log (seq, hash, {AUDIT_COLUMNS}) VALUES ({marks})",  # noqa: S608
            sealed,
        )
        ids = [int(r[0]) for r in rows]
        if sqlite:
            conn.execute(text("DELETE FROM audit_pending WHERE id <= :last"), {"last": ids[-1]})
        else:
            conn.execute(
                text("DELETE FROM audit_pending WHERE id = ANY(CAST(:ids AS bigint[]))"),
                {"ids": ids},
            )
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": seq, "hash": previous},
        )
        return len(rows)


def timed(seal: Callable[[], int]) -> tuple[float, float, int]:
    """(CPU ms of this thread, wall ms, events sealed)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    sealed = seal()
    return (time.thread_time() - cpu) * 1e3, (time.perf_counter() - wall) * 1e3, sealed


@contextlib.contextmanager
def store_url(store: str, pg_url: str | None) -> Iterator[str]:
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/audit.sqlite3"
        return
    with database("postgres", 0, Path(tempfile.gettempdir()), pg_url) as url:
        yield url


def measure(store: str, events: int, rounds: int, pg_url: str | None) -> list[Any]:
    with store_url(store, pg_url) as url:
        upgrade(url)
        log = SqlAuditLog.from_url(url)
        ours: list[tuple[float, float, int]] = []
        base: list[tuple[float, float, int]] = []
        start = datetime(2030, 5, 1, tzinfo=UTC)
        for i in range(rounds + 1):  # the first round of each warms up, not counted
            for seal, into in ((log.seal, ours), (lambda: baseline_seal(log), base)):
                pending_events(log, events, start + timedelta(hours=i))
                result = timed(seal)
                if result[2] != events:
                    raise SystemExit(f"sealed {result[2]} of {events} pending events")
                if i:
                    into.append(result)
        report = verify_chain(log.entries(), head=log.head())
        log.close()
    if not report.ok:
        raise SystemExit(f"{store}: the chain does not verify: {report.problem}")
    ours_us = statistics.median(r[0] for r in ours) * 1e3 / events
    base_us = statistics.median(r[0] for r in base) * 1e3 / events
    return [
        store,
        f"{events:,}",
        f"{ours_us:.1f}",
        f"{base_us:.1f}",
        f"{base_us / ours_us:.2f}x",
        f"{statistics.median(r[1] for r in ours):.1f}",
        f"{statistics.median(r[1] for r in base):.1f}",
        f"{report.entries:,} ok",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=1000, help="events per seal (1000)")
    p.add_argument("--rounds", type=int, default=7, help="measured seals of each (7)")
    p.add_argument("--stores", default="sqlite,postgres", help="sqlite,postgres (default both)")
    p.add_argument("--pg-url", help="PostgreSQL superuser URL (default: DRONECOOP_TEST_PG_URL)")
    args = p.parse_args(argv)
    rows = []
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        if store == "postgres":
            pg_admin_url(args.pg_url)  # a clear message if there is none
        rows.append(measure(store, args.events, args.rounds, args.pg_url))
    print_table(
        f"audit sealing, median of {args.rounds} seals each, interleaved",
        [
            "store",
            "events/seal",
            "ours CPU us/event",
            "baseline CPU us/event",
            "baseline / ours",
            "ours wall ms",
            "baseline wall ms",
            "chain",
        ],
        rows,
        caption="CPU: the sealing thread's own (time.thread_time), what a serving worker "
        "gives up; baseline: the sealer before session 7 (an AuditEvent and an INSERT per "
        "event). The chain both wrote is verified afterwards.",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
