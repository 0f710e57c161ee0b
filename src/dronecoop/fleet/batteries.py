"""A battery's state of health from the logs flown with it (pure).

Each log's analysis estimates the pack's internal resistance from its voltage sag under
load (``logs.analysis.internal_resistance``). A battery's logs are those ingested while it
was fitted — the same rule its cycles follow (counters at install and removal). Health is
resistance-based, as battery maintenance practice measures it: the first estimate is the
pack's baseline, and its end of life is when the resistance has doubled:

    state of health = 100 % x (2 R0 - R) / R0, clipped to 0..100 %

(a pack whose resistance grew by half is at 50 %). Capacity fade needs full charge and
discharge cycles, which flight logs do not hold; it is not estimated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dronecoop.fleet.components import Installation
from dronecoop.fleet.model import StoredLog

END_OF_LIFE_RESISTANCE_RATIO = 2.0


@dataclass(frozen=True, slots=True)
class ResistanceReading:
    log_sha256: str
    at: datetime  # when the log was ingested
    pack_mohm: float
    cell_mohm: float


@dataclass(frozen=True, slots=True)
class BatteryHealth:
    readings: list[ResistanceReading]

    @property
    def baseline_mohm(self) -> float | None:
        return self.readings[0].pack_mohm if self.readings else None

    @property
    def latest_mohm(self) -> float | None:
        return self.readings[-1].pack_mohm if self.readings else None

    @property
    def state_of_health_pct(self) -> float | None:
        if not self.readings or self.readings[0].pack_mohm <= 0:
            return None
        r0, r = self.readings[0].pack_mohm, self.readings[-1].pack_mohm
        ratio = END_OF_LIFE_RESISTANCE_RATIO - 1
        return max(0.0, min(100.0, 100.0 * (END_OF_LIFE_RESISTANCE_RATIO * r0 - r) / (ratio * r0)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "state_of_health_pct": _round(self.state_of_health_pct),
            "baseline_mohm": _round(self.baseline_mohm),
            "latest_mohm": _round(self.latest_mohm),
            "readings": [
                {
                    "log": r.log_sha256,
                    "at": r.at.isoformat(),
                    "pack_mohm": round(r.pack_mohm, 1),
                    "cell_mohm": round(r.cell_mohm, 2),
                }
                for r in self.readings
            ],
            "method": "internal resistance from voltage sag in flight; end of life at twice "
            "the first reading",
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def resistance_of(log: StoredLog) -> tuple[float, float] | None:
    """(pack mΩ, cell mΩ) a log's analysis estimated, if it could."""
    for finding in log.report.get("findings", []):
        if finding.get("code") == "battery.resistance":
            evidence = finding.get("evidence", {})
            pack, cell = evidence.get("pack_mohm"), evidence.get("cell_mohm")
            if isinstance(pack, int | float) and isinstance(cell, int | float):
                return float(pack), float(cell)
    return None


def battery_health(
    battery_id: str,
    installations: Iterable[Installation],
    logs_by_aircraft: Mapping[str, Sequence[StoredLog]],
) -> BatteryHealth:
    """The resistance readings of the logs ingested while the battery was fitted."""
    readings = []
    for spell in installations:
        if spell.component_id != battery_id:
            continue
        for log in logs_by_aircraft.get(spell.aircraft_id, ()):
            at = log.ingested_at
            if at is None or at < spell.installed_at:
                continue
            if spell.removed_at is not None and at >= spell.removed_at:
                continue
            found = resistance_of(log)
            if found is not None:
                readings.append(ResistanceReading(log.sha256, at, *found))
    readings.sort(key=lambda r: r.at)
    return BatteryHealth(readings)
