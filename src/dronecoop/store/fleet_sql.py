"""The fleet registry in SQLite or PostgreSQL: aircraft and their flight logs, audited.

A log's bytes live in a content-addressed file (``blobs``) written and synced before the
row that names it commits; a log is kept once per partner (its SHA-256 is the key).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, text
from sqlalchemy.exc import IntegrityError

from dronecoop.airspace.model import from_us, to_us
from dronecoop.fleet.model import Aircraft, AircraftStatus, StoredLog
from dronecoop.planning.errors import PlanningError
from dronecoop.store.audit_sql import audit_change
from dronecoop.store.engine import SqlRepository, write_transaction

_AIRCRAFT = (
    "id, partner, model, serial, registration, home_depot, status, autopilot_uid, "
    "opening_hours, opening_cycles, opening_as_of_us, released_to, created_at_us"
)
_LOGS = (
    "sha256, partner, aircraft_id, filename, format, size_bytes, start_utc_us, airborne_s, "
    "cycles, report, ingested_at_us"
)


class DuplicateAircraft(PlanningError):
    """The partner already registered an aircraft with this serial number."""


def _aircraft_row(a: Aircraft) -> dict[str, Any]:
    return {
        "id": a.id,
        "partner": a.partner,
        "model": a.model,
        "serial": a.serial,
        "registration": a.registration,
        "home_depot": a.home_depot,
        "status": a.status.value,
        "autopilot_uid": a.autopilot_uid,
        "opening_hours": a.opening_hours,
        "opening_cycles": a.opening_cycles,
        "opening_as_of_us": None if a.opening_as_of is None else to_us(a.opening_as_of),
        "released_to": orjson.dumps(sorted(a.released_to)).decode(),
        "created_at_us": to_us(a.created_at or datetime.now(UTC)),
    }


def _aircraft(row: Any) -> Aircraft:
    return Aircraft(
        id=row[0],
        partner=row[1],
        model=row[2],
        serial=row[3],
        registration=row[4],
        home_depot=row[5],
        status=AircraftStatus(row[6]),
        autopilot_uid=row[7],
        opening_hours=float(row[8]),
        opening_cycles=int(row[9]),
        opening_as_of=None if row[10] is None else from_us(row[10]),
        released_to=frozenset(orjson.loads(row[11])),
        created_at=from_us(row[12]),
    )


def _log(row: Any) -> StoredLog:
    return StoredLog(
        sha256=row[0],
        partner=row[1],
        aircraft_id=row[2],
        filename=row[3],
        format=row[4],
        size_bytes=int(row[5]),
        start_utc=None if row[6] is None else from_us(row[6]),
        airborne_s=float(row[7]),
        cycles=int(row[8]),
        report=orjson.loads(row[9]),
        ingested_at=from_us(row[10]),
    )


class SqlFleetStore(SqlRepository):
    def __init__(self, url: str, engine: Any = None, *, blobs: Path) -> None:
        super().__init__(url, engine)
        self.blobs = blobs

    # -- aircraft
    def add_aircraft(self, aircraft: Aircraft, *, actor: str) -> None:
        row = _aircraft_row(aircraft)
        names = ", ".join(f":{c.strip()}" for c in _AIRCRAFT.split(","))
        try:
            with write_transaction(self._engine, self._url) as conn:
                conn.execute(text(f"INSERT INTO aircraft ({_AIRCRAFT}) VALUES ({names})"), row)
                _audit(conn, aircraft.partner, actor, "fleet.aircraft.add", aircraft.id, None, row)
        except IntegrityError as exc:
            raise DuplicateAircraft(
                f"{aircraft.partner} already has an aircraft with serial {aircraft.serial!r}"
            ) from exc

    def aircraft(self, aircraft_id: str) -> Aircraft | None:
        rows = self._select(f"SELECT {_AIRCRAFT} FROM aircraft WHERE id = :id", id=aircraft_id)
        return _aircraft(rows[0]) if rows else None

    def all_aircraft(self) -> list[Aircraft]:
        return [
            _aircraft(r)
            for r in self._select(f"SELECT {_AIRCRAFT} FROM aircraft ORDER BY partner, serial")
        ]

    def aircraft_by_uid(self, partner: str, uid: str) -> Aircraft | None:
        rows = self._select(
            f"SELECT {_AIRCRAFT} FROM aircraft WHERE partner = :p AND autopilot_uid = :uid",
            p=partner,
            uid=uid,
        )
        return _aircraft(rows[0]) if len(rows) == 1 else None

    # -- logs
    def log(self, partner: str, sha256: str) -> StoredLog | None:
        rows = self._select(
            f"SELECT {_LOGS} FROM flight_logs WHERE partner = :p AND sha256 = :s",
            p=partner,
            s=sha256,
        )
        return _log(rows[0]) if rows else None

    def logs_by_hash(self, sha256: str) -> list[StoredLog]:
        """The log with these bytes, as each partner that has it keeps it."""
        return [
            _log(r)
            for r in self._select(f"SELECT {_LOGS} FROM flight_logs WHERE sha256 = :s", s=sha256)
        ]

    def logs(self, aircraft_ids: list[str] | None = None) -> list[StoredLog]:
        if aircraft_ids is None:
            return [
                _log(r)
                for r in self._select(f"SELECT {_LOGS} FROM flight_logs ORDER BY ingested_at_us")
            ]
        if not aircraft_ids:
            return []
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {_LOGS} FROM flight_logs WHERE aircraft_id IN :ids "
                    "ORDER BY start_utc_us"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": aircraft_ids},
            ).all()
        return [_log(r) for r in rows]

    def add_log(self, log: StoredLog, data_file: Path, *, actor: str) -> tuple[StoredLog, bool]:
        """Keep ``log`` (its bytes from ``data_file``); returns it and whether it is new (a
        log already kept for this partner is returned as it was, not stored twice)."""
        existing = self.log(log.partner, log.sha256)
        if existing is not None:
            return existing, False
        self._keep_blob(log.sha256, data_file)
        row = {
            "sha256": log.sha256,
            "partner": log.partner,
            "aircraft_id": log.aircraft_id,
            "filename": log.filename,
            "format": log.format,
            "size_bytes": log.size_bytes,
            "start_utc_us": None if log.start_utc is None else to_us(log.start_utc),
            "airborne_s": log.airborne_s,
            "cycles": log.cycles,
            "report": orjson.dumps(log.report, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            "ingested_at_us": to_us(log.ingested_at or datetime.now(UTC)),
        }
        names = ", ".join(f":{c.strip()}" for c in _LOGS.split(","))
        try:
            with write_transaction(self._engine, self._url) as conn:
                conn.execute(text(f"INSERT INTO flight_logs ({_LOGS}) VALUES ({names})"), row)
                audited = {k: v for k, v in row.items() if k != "report"}
                _audit(conn, log.partner, actor, "logs.ingest", log.sha256, None, audited)
        except IntegrityError:  # the same log, ingested at the same moment elsewhere
            kept = self.log(log.partner, log.sha256)
            if kept is None:
                raise
            return kept, False
        return _log(tuple(row[c.strip()] for c in _LOGS.split(","))), True

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def _keep_blob(self, sha256: str, data_file: Path) -> None:
        """Copy the bytes to their content address, synced, before any row names them."""
        target = self.blob_path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, data_file.open("rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(target)
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _select(self, sql: str, **params: Any) -> list[Any]:
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())


def _audit(
    conn: Connection,
    partner: str,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    kind = action.split(".")[1] if action.count(".") > 1 else "flight_log"
    audit_change(
        conn, partner=partner, actor=actor, action=action, target_kind=kind, target_id=target,
        before=before, after=after,
    )  # fmt: skip
