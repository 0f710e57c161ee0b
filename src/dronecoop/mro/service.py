"""Maintenance across the fleet: programs, tasks done, defects, due-lists, airworthiness.

Utilisation for forecasts is the aircraft's own: the hours and cycles its logs show over
the last ``RATE_WINDOW_DAYS`` days, per day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dronecoop.fleet.model import Aircraft
from dronecoop.fleet.service import AircraftNotFound, FleetService, NotYourAircraft
from dronecoop.mro.due import Airworthiness, Done, DueItem, Task, Usage, airworthiness, due_list
from dronecoop.planning.errors import PlanningError
from dronecoop.store.mro_sql import Defect, SqlMroStore

RATE_WINDOW_DAYS = 90


@dataclass(frozen=True, slots=True)
class AircraftDue:
    aircraft: Aircraft
    usage: Usage
    items: list[DueItem]
    defects: list[Defect]
    verdict: Airworthiness


class MroService:
    def __init__(
        self,
        fleet: FleetService,
        store: SqlMroStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.fleet = fleet
        self.store = store
        self._clock = clock

    def add_task(self, partner: str, actor: str, body: dict[str, Any]) -> tuple[str, Task]:
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise PlanningError('a task belongs to an aircraft "model"')
        try:
            task = Task(
                code=str(body.get("code", "")).strip(),
                title=str(body.get("title", "")).strip(),
                hours=_optional(body, "hours", float),
                cycles=_optional(body, "cycles", int),
                days=_optional(body, "days", int),
                tolerance_pct=float(body.get("tolerance_pct", 0.0)),
                critical=bool(body.get("critical", False)),
            )
        except (TypeError, ValueError) as exc:
            raise PlanningError(str(exc)) from exc
        if not task.code or not task.title:
            raise PlanningError('a task needs a "code" and a "title"')
        self.store.add_task(partner, model.strip(), task, actor=actor)
        return model.strip(), task

    def record_done(self, partner: str, actor: str, aircraft_id: str, task_code: str) -> Done:
        aircraft = self._own(partner, aircraft_id)
        use = self.fleet.utilisation(aircraft)
        codes = {t.code for p, m, t in self.store.tasks(partner) if m == aircraft.model}
        if task_code not in codes:
            raise PlanningError(f"{aircraft.model}'s program has no task {task_code!r}")
        done = Done(task_code, self._clock(), use.hours, use.cycles)
        self.store.record_done(partner, aircraft.id, done, actor=actor)
        return done

    def open_defect(
        self, partner: str, actor: str, aircraft_id: str, body: dict[str, Any]
    ) -> Defect:
        aircraft = self._own(partner, aircraft_id)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise PlanningError('a defect needs a "title"')
        source = body.get("source", "")
        return self.store.open_defect(
            partner,
            aircraft.id,
            title.strip()[:500],
            bool(body.get("critical", False)),
            str(source)[:255],
            actor=actor,
        )

    def close_defect(self, partner: str, actor: str, defect_id: str) -> None:
        if not self.store.close_defect(partner, defect_id, actor=actor):
            raise PlanningError(f"no open defect {defect_id} of {partner}")

    def due(self, aircraft: Aircraft) -> AircraftDue:
        now = self._clock()
        use = self.fleet.utilisation(aircraft)
        recent = [
            log
            for log in self.fleet.logs_of(aircraft)
            if log.start_utc is not None and log.start_utc >= now - timedelta(days=RATE_WINDOW_DAYS)
        ]
        usage = Usage(
            at=now,
            hours=use.hours,
            cycles=use.cycles,
            hours_per_day=sum(x.airborne_s for x in recent) / 3600 / RATE_WINDOW_DAYS,
            cycles_per_day=sum(x.cycles for x in recent) / RATE_WINDOW_DAYS,
        )
        tasks = [t for p, m, t in self.store.tasks(aircraft.partner) if m == aircraft.model]
        since = aircraft.opening_as_of or aircraft.created_at or now
        items = due_list(tasks, self.store.done(aircraft.id), usage, since)
        defects = self.store.defects(aircraft.id)
        verdict = airworthiness(items, [d.title for d in defects if d.critical])
        return AircraftDue(aircraft, usage, items, defects, verdict)

    def _own(self, partner: str, aircraft_id: str) -> Aircraft:
        aircraft = self.fleet.aircraft(aircraft_id)
        if aircraft is None:
            raise AircraftNotFound(f"aircraft {aircraft_id} not found")
        if aircraft.partner != partner:
            raise NotYourAircraft(f"aircraft {aircraft_id} belongs to {aircraft.partner}")
        return aircraft


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanningError(f'"{name}" must be a number')
    return kind(value)
