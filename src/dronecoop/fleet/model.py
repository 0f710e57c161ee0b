"""An aircraft as the fleet registry keeps it, and its logged utilisation (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AircraftStatus(StrEnum):
    ACTIVE = "active"
    IN_MAINTENANCE = "in_maintenance"
    STORED = "stored"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Aircraft:
    id: str
    partner: str  # the owner
    model: str
    serial: str
    registration: str = ""
    home_depot: str = ""
    status: AircraftStatus = AircraftStatus.ACTIVE
    autopilot_uid: str = ""  # the flight controller's id, as its logs give it (to match them)
    # Opening balances: what the aircraft had flown before it came into the registry.
    opening_hours: float = 0.0
    opening_cycles: int = 0
    opening_as_of: datetime | None = None
    released_to: frozenset[str] = frozenset()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredLog:
    """A flight log kept for an aircraft: where its bytes are and what analysis said."""

    sha256: str
    partner: str
    aircraft_id: str | None
    filename: str
    format: str
    size_bytes: int
    start_utc: datetime | None
    airborne_s: float
    cycles: int  # take-offs
    report: dict[str, Any] = field(compare=False)
    ingested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Utilisation:
    hours: float
    cycles: int
    logs: int
    last_flight_utc: datetime | None


def utilisation(aircraft: Aircraft, logs: list[StoredLog]) -> Utilisation:
    """Opening balance plus what the aircraft's logs show (each log counted once)."""
    airborne_s = sum(log.airborne_s for log in logs)
    starts = [log.start_utc for log in logs if log.start_utc is not None]
    return Utilisation(
        hours=aircraft.opening_hours + airborne_s / 3600,
        cycles=aircraft.opening_cycles + sum(log.cycles for log in logs),
        logs=len(logs),
        last_flight_utc=max(starts) if starts else None,
    )
