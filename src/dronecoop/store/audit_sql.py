"""SQL side of the audit chain: the row layout, and reading the log back.

Appending happens inside each capability's own write transaction (``SqlAirspaceTx.audit``)
so a change and its entry commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, text

from dronecoop.airspace.model import from_us, to_us
from dronecoop.store.engine import build_engine
from dronecoop.trust.audit import AuditEntry, AuditEvent

AUDIT_COLUMNS = "at_us, partner, actor, action, target_kind, target_id, before_digest, after_digest"
_READ_BATCH = 5000


def audit_values(event: AuditEvent) -> tuple[Any, ...]:
    """The values of ``AUDIT_COLUMNS`` for ``event``."""
    return (
        to_us(event.at),
        event.partner,
        event.actor,
        event.action,
        event.target_kind,
        event.target_id,
        event.before_digest,
        event.after_digest,
    )


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(row[0]),
        hash=bytes(row[1]),
        event=AuditEvent(
            at=from_us(row[2]),
            partner=row[3],
            actor=row[4],
            action=row[5],
            target_kind=row[6],
            target_id=row[7],
            before_digest=row[8],
            after_digest=row[9],
        ),
    )


class SqlAuditLog:
    """Reads the audit chain of a SQLite or PostgreSQL database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def from_url(cls, url: str) -> SqlAuditLog:
        return cls(build_engine(url))

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

    def close(self) -> None:
        self._engine.dispose()
