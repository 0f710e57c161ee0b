"""The fleet registry's operations: register aircraft, take in their flight logs.

A log is analysed (``logs.analysis``), matched to the partner's aircraft by the flight
controller's id it carries (or named by the caller), kept once (by content hash), and
counts towards the aircraft's hours and cycles from then on.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dronecoop.fleet.model import Aircraft, AircraftStatus, StoredLog, Utilisation, utilisation
from dronecoop.logs.analysis import analyse
from dronecoop.logs.model import LogReport
from dronecoop.logs.readers import read_log
from dronecoop.planning.errors import PlanningError
from dronecoop.store.fleet_sql import SqlFleetStore


class AircraftNotFound(PlanningError):
    pass


@dataclass(frozen=True, slots=True)
class Ingested:
    log: StoredLog
    new: bool
    matched_by: str  # "named", "autopilot id", or "" (no aircraft)


class FleetService:
    def __init__(
        self, store: SqlFleetStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self._clock = clock

    def register(self, partner: str, actor: str, fields: dict[str, Any]) -> Aircraft:
        model, serial = _text(fields, "model"), _text(fields, "serial")
        if not model or not serial:
            raise PlanningError('an aircraft needs a "model" and a "serial"')
        try:
            status = AircraftStatus(str(fields.get("status", AircraftStatus.ACTIVE.value)))
        except ValueError as exc:
            choices = ", ".join(s.value for s in AircraftStatus)
            raise PlanningError(f'"status" must be one of {choices}') from exc
        hours = fields.get("opening_hours", 0.0)
        cycles = fields.get("opening_cycles", 0)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
            raise PlanningError('"opening_hours" must be a number of hours, 0 or more')
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 0:
            raise PlanningError('"opening_cycles" must be a whole number, 0 or more')
        as_of = fields.get("opening_as_of")
        released = fields.get("released_to", [])
        if not isinstance(released, list) or not all(isinstance(p, str) for p in released):
            raise PlanningError('"released_to" must be a list of partner ids')
        aircraft = Aircraft(
            id=str(uuid.uuid4()),
            partner=partner,
            model=model,
            serial=serial,
            registration=_text(fields, "registration"),
            home_depot=_text(fields, "home_depot"),
            status=status,
            autopilot_uid=_text(fields, "autopilot_uid"),
            opening_hours=float(hours),
            opening_cycles=cycles,
            opening_as_of=None if as_of is None else _date(as_of),
            released_to=frozenset(released),
            created_at=self._clock(),
        )
        self.store.add_aircraft(aircraft, actor=actor)
        return aircraft

    def aircraft(self, aircraft_id: str) -> Aircraft | None:
        return self.store.aircraft(aircraft_id)

    def all_aircraft(self) -> list[Aircraft]:
        return self.store.all_aircraft()

    def utilisation(self, aircraft: Aircraft) -> Utilisation:
        return utilisation(aircraft, self.store.logs([aircraft.id]))

    def logs_of(self, aircraft: Aircraft) -> list[StoredLog]:
        return self.store.logs([aircraft.id])

    def ingest(
        self,
        partner: str,
        actor: str,
        filename: str,
        data_file: Path,
        aircraft_id: str | None = None,
    ) -> Ingested:
        """Analyse and keep one log (raises LogFormatError for what is not a log)."""
        digest = hashlib.sha256()
        size = 0
        with data_file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        sha256 = digest.hexdigest()
        kept = self.store.log(partner, sha256)
        if kept is not None:  # the same bytes again: one log, counted once
            return Ingested(kept, False, "named" if aircraft_id else "")
        report = analyse(read_log(data_file), sha256=sha256, size_bytes=size)
        aircraft, matched_by = self._aircraft_for(partner, aircraft_id, report)
        log = StoredLog(
            sha256=sha256,
            partner=partner,
            aircraft_id=None if aircraft is None else aircraft.id,
            filename=Path(filename).name[:255],
            format=report.format.value,
            size_bytes=size,
            start_utc=report.start_utc,
            airborne_s=report.airborne_s,
            cycles=sum(f.takeoffs for f in report.flights),
            report=report_json(report),
            ingested_at=self._clock(),
        )
        stored, new = self.store.add_log(log, data_file, actor=actor)
        return Ingested(stored, new, matched_by)

    def plot(self, log: StoredLog) -> bytes:
        """The log's plots with its findings shaded, from the bytes kept for it."""
        from dronecoop.logs.plots import plot_png  # matplotlib: only when a plot is asked for

        data = read_log(self.store.blob_path(log.sha256))
        return plot_png(data, analyse(data).findings)

    def _aircraft_for(
        self, partner: str, aircraft_id: str | None, report: LogReport
    ) -> tuple[Aircraft | None, str]:
        if aircraft_id:
            aircraft = self.store.aircraft(aircraft_id)
            if aircraft is None:
                raise AircraftNotFound(f"aircraft {aircraft_id} not found")
            if aircraft.partner != partner:
                raise AircraftNotFound(f"aircraft {aircraft_id} not found")  # not theirs
            return aircraft, "named"
        uid = report.vehicle.get("sys_uuid") or report.vehicle.get("uid")
        if uid:
            found = self.store.aircraft_by_uid(partner, uid)
            if found is not None:
                return found, "autopilot id"
        return None, ""


def report_json(report: LogReport) -> dict[str, Any]:
    body = asdict(report)
    body["start_utc"] = None if report.start_utc is None else report.start_utc.isoformat()
    body["cycles"] = report.cycles
    body["airborne_s"] = report.airborne_s
    for finding in body["findings"]:
        finding["evidence"] = {
            k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in finding["evidence"].items()
        }
    return body


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        raise PlanningError(f'"{name}" must be a string')
    return value.strip()[:255]


def _date(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PlanningError('"opening_as_of" must be a date, e.g. "2026-11-01"')
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PlanningError(f'"opening_as_of" is not a date: {value!r}') from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
