"""SQL side of the audit chain: the row layout, sealing, and reading the log back.

A change writes its event to ``audit_pending`` inside its own transaction
(``SqlAirspaceTx.audit``), so the change and its event commit together or not at all.
``seal`` then moves pending events into ``audit_log`` in id order, chaining each hash to
the previous one, under the lock of the ``audit_head`` row: sealers never fork the chain,
and writers never wait for them. An event is tamper-evident once sealed; the node seals
every ``DRONECOOP_AUDIT_SEAL_INTERVAL_S`` (and before serving entries).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from dronecoop.airspace.model import from_us, to_us
from dronecoop.store.engine import SqlRepository, is_sqlite, write_transaction
from dronecoop.trust.audit import (
    AuditEntry,
    AuditEvent,
    chain,
    digest_of,
    event_fields,
    stored_event_digest,
)
from dronecoop.trust.errors import AuditChainError

AUDIT_COLUMNS = "at_us, partner, actor, action, target_kind, target_id, before_digest, after_digest"
_READ_BATCH = 5000
SEAL_BATCH = 5000
_NAMES = [c.strip() for c in AUDIT_COLUMNS.split(",")]


def audit_values(event: AuditEvent) -> tuple[Any, ...]:
    """The values of ``AUDIT_COLUMNS`` for ``event``."""
    return (to_us(event.at), *event_fields(event))


def _event(row: Any) -> AuditEvent:
    """The event in ``row``, whose columns are ``AUDIT_COLUMNS``."""
    return AuditEvent(
        at=from_us(row[0]),
        partner=row[1],
        actor=row[2],
        action=row[3],
        target_kind=row[4],
        target_id=row[5],
        before_digest=row[6],
        after_digest=row[7],
    )


def _event_params(event: AuditEvent) -> dict[str, Any]:
    return dict(zip(_NAMES, audit_values(event), strict=True))


_INSERT_PENDING = text(
    f"INSERT INTO audit_pending ({AUDIT_COLUMNS}) "  # noqa: S608 - constant SQL
    f"VALUES ({', '.join(':' + n for n in _NAMES)})"
)


def insert_pending(conn: Connection, event: AuditEvent) -> None:
    """Record ``event`` in the transaction ``conn`` is in (for writers outside airspace)."""
    conn.execute(_INSERT_PENDING, _event_params(event))


def audit_change(
    conn: Connection,
    *,
    partner: str,
    actor: str,
    action: str,
    target_kind: str,
    target_id: str,
    after: Any,
    before: Any = None,
) -> None:
    """Record, in ``conn``'s transaction, that ``actor`` of ``partner`` changed a record from
    ``before`` (None: it is new) to ``after`` — by digests, never the content."""
    insert_pending(
        conn,
        AuditEvent(
            partner=partner,
            actor=actor,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            before_digest=None if before is None else digest_of(before),
            after_digest=digest_of(after),
            at=datetime.now(UTC),
        ),
    )


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(seq=int(row[0]), hash=bytes(row[1]), event=_event(row[2:]))


class SqlAuditLog(SqlRepository):
    """Seals and reads the audit chain of a SQLite or PostgreSQL database."""

    @property
    def _sqlite(self) -> bool:
        return is_sqlite(self._url)

    @classmethod
    def from_url(cls, url: str) -> SqlAuditLog:
        return cls(url)

    def seal(self, max_events: int = SEAL_BATCH) -> int:
        """Link up to ``max_events`` pending events into the chain; return how many.

        The rows are digested as read (``stored_event_digest``); on PostgreSQL they then
        move server-side, one ``INSERT ... SELECT`` joined to their sequence numbers and
        hashes sent as arrays, instead of an INSERT each (``bench/audit.py``: 16.2 -> 6.7 us
        of the sealing thread's CPU an event, and 2 statements instead of one an event).
        """
        if not self.pending():  # a read: idle sealers and readers take no writer lock
            return 0
        with write_transaction(self._engine, self._url) as conn:
            lock = "" if self._sqlite else " FOR UPDATE"
            head = conn.execute(
                text(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")  # noqa: S608
            ).first()
            if head is None:
                raise AuditChainError("the audit chain's head row is gone: not sealing")
            dbapi = conn.connection.dbapi_connection
            with contextlib.closing(dbapi.cursor()) as cursor:  # type: ignore[union-attr]
                cursor.execute(
                    f"SELECT id, {AUDIT_COLUMNS} FROM audit_pending "  # noqa: S608 - constant SQL
                    f"ORDER BY id LIMIT {int(max_events)}"
                )
                rows = cursor.fetchall()
                if not rows:
                    return 0
                seq, previous = int(head[0]), bytes(head[1])
                ids, seqs, hashes = [], [], []
                for row in rows:
                    seq, previous = seq + 1, chain(previous, stored_event_digest(*row[1:]))
                    ids.append(row[0])
                    seqs.append(seq)
                    hashes.append(previous)
                if self._sqlite:  # the one writer: every pending row is in ``rows``'s range
                    marks = ", ".join("?" * (2 + len(_NAMES)))
                    cursor.executemany(
                        f"INSERT INTO audit_log (seq, hash, {AUDIT_COLUMNS}) VALUES ({marks})",  # noqa: S608
                        [(s, h, *row[1:]) for s, h, row in zip(seqs, hashes, rows, strict=True)],
                    )
                    conn.execute(
                        text("DELETE FROM audit_pending WHERE id <= :last"), {"last": ids[-1]}
                    )
                else:  # exactly these: a lower id may commit between our read and this
                    columns = ", ".join(f"p.{name}" for name in _NAMES)
                    cursor.execute(
                        f"INSERT INTO audit_log (seq, hash, {AUDIT_COLUMNS}) "  # noqa: S608
                        f"SELECT s.seq, s.hash, {columns} FROM unnest("
                        "%s::bigint[], %s::bigint[], %s::bytea[]) AS s(id, seq, hash) "
                        "JOIN audit_pending p ON p.id = s.id",
                        (ids, seqs, hashes),
                    )
                    if cursor.rowcount != len(ids):  # only sealers delete, under the head's lock
                        raise AuditChainError(
                            f"{len(ids) - cursor.rowcount} pending events vanished while sealing"
                        )
                    cursor.execute("DELETE FROM audit_pending WHERE id = ANY(%s)", (ids,))
                conn.execute(
                    text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                    {"seq": seq, "hash": previous},
                )
                return len(rows)

    def pending(self) -> int:
        """Events written but not sealed yet."""
        with self._engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit_pending")).scalar_one())

    def head(self) -> tuple[int, bytes] | None:
        """The last (seq, hash) recorded beside the log; None if that row is gone."""
        with self._engine.connect() as conn:
            row = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def entries(self, *, partner: str | None = None, after_seq: int = 0) -> Iterator[AuditEntry]:
        """Entries in sequence order (``partner``'s only, if given), read in batches."""
        where = "seq > :after" + (" AND partner = :partner" if partner is not None else "")
        sql = text(
            f"SELECT seq, hash, {AUDIT_COLUMNS} FROM audit_log "  # noqa: S608 - constant SQL
            f"WHERE {where} ORDER BY seq LIMIT {_READ_BATCH}"
        )
        after = after_seq
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(sql, {"after": after, "partner": partner}).all()
            yield from (_entry(row) for row in rows)
            if len(rows) < _READ_BATCH:
                return
            after = int(rows[-1][0])

    def entry(self, seq: int) -> AuditEntry | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT seq, hash, {AUDIT_COLUMNS} FROM audit_log WHERE seq = :seq"),  # noqa: S608
                {"seq": seq},
            ).first()
        return None if row is None else _entry(row)
