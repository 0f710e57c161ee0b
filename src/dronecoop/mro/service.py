"""Maintenance across the fleet: programs, tasks done, defects, due-lists, airworthiness.

Utilisation for forecasts is the aircraft's own: the hours and cycles its logs show over
the last ``RATE_WINDOW_DAYS`` days, per day.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dronecoop.fleet.baselines import diff
from dronecoop.fleet.batteries import BatteryHealth, battery_health
from dronecoop.fleet.components import (
    Component,
    Installation,
    component_program_items,
    life_items,
    time_since_new,
)
from dronecoop.fleet.model import Aircraft, StoredLog, utilisation
from dronecoop.fleet.service import AircraftNotFound, FleetService
from dronecoop.mro import workorders
from dronecoop.mro.due import (
    Airworthiness,
    Done,
    DueItem,
    Task,
    Usage,
    airworthiness,
    due_list,
    soonest_first,
)
from dronecoop.mro.workorders import (
    PartDrawn,
    TaskCard,
    WorkOrder,
    WorkOrderError,
    WorkOrderStatus,
)
from dronecoop.planning.errors import PlanningError
from dronecoop.store.components_sql import SqlComponents
from dronecoop.store.mro_sql import Defect, SqlBaselines, SqlMroStore
from dronecoop.store.workorders_sql import SqlWorkOrders

if TYPE_CHECKING:
    from sqlalchemy import Connection

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
        components: SqlComponents | None = None,
        baselines: SqlBaselines | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.fleet = fleet
        self.store = store
        self.components = components
        self.baselines = baselines
        self._clock = clock

    # -- parameter baselines
    def add_baseline(self, partner: str, actor: str, body: dict[str, Any]) -> int:
        """A model's baseline: given as ``parameters`` or taken from a kept log (``from_log``)."""
        if self.baselines is None:
            raise PlanningError("this node keeps no baselines")
        model, name = body.get("model"), body.get("name", "default")
        if not isinstance(model, str) or not model.strip() or not isinstance(name, str):
            raise PlanningError('a baseline needs a "model" (and a "name")')
        if isinstance(body.get("from_log"), str):
            log = self.fleet.store.log(partner, body["from_log"].lower())
            if log is None:
                raise PlanningError(f"no log {body['from_log']} of {partner}")
            parameters = {str(k): float(v) for k, v in log.report.get("parameters", {}).items()}
            source = f"log {log.sha256}"
        elif isinstance(body.get("parameters"), dict):
            try:
                parameters = {str(k): float(v) for k, v in body["parameters"].items()}
            except (TypeError, ValueError) as exc:
                raise PlanningError('"parameters" must map names to numbers') from exc
            source = "given"
        else:
            raise PlanningError('give "parameters" {name: value} or "from_log" (a log hash)')
        if not parameters:
            raise PlanningError("the baseline has no parameters")
        self.baselines.put(partner, model.strip(), name, parameters, source, actor=actor)
        return len(parameters)

    def baseline_check(self, aircraft_id: str, name: str) -> dict[str, Any]:
        """The aircraft's latest log's parameters against its model's baseline ``name``."""
        aircraft = self.fleet.aircraft(aircraft_id)
        if aircraft is None or self.baselines is None:
            raise AircraftNotFound(f"aircraft {aircraft_id} not found")
        baseline = self.baselines.get(aircraft.partner, aircraft.model, name)
        if baseline is None:
            raise PlanningError(f"{aircraft.model} has no parameter baseline {name!r}")
        logs = [x for x in self.fleet.logs_of(aircraft) if x.report.get("parameters")]
        if not logs:
            raise PlanningError("no log of this aircraft carries its parameters")
        latest = max(logs, key=lambda x: (x.start_utc or x.ingested_at or self._clock(), x.sha256))
        result = diff(baseline, latest.report["parameters"])
        return {
            "aircraft_id": aircraft.id,
            "baseline": name,
            "log": latest.sha256,
            "firmware": latest.report.get("firmware", ""),
            "clean": result.clean,
            "changed": [{"name": n, "baseline": b, "log": v} for n, b, v in result.changed],
            "missing": result.missing,
            "extra": len(result.extra),
        }

    # -- components and life-limited parts
    def add_component(self, partner: str, actor: str, body: dict[str, Any]) -> Component:
        if self.components is None:
            raise PlanningError("this node keeps no components")
        part, serial = body.get("part_number"), body.get("serial")
        if (
            not isinstance(part, str)
            or not part.strip()
            or not isinstance(serial, str)
            or not serial.strip()
        ):
            raise PlanningError('a component needs a "part_number" and a "serial"')
        kind = str(body.get("kind", "part"))
        if kind not in ("part", "battery"):
            raise PlanningError('"kind" is "part" or "battery"')
        for limit in ("life_hours", "life_cycles"):
            value = _optional(body, limit, float)
            if value is not None and value <= 0:
                raise PlanningError(f'"{limit}" must be more than 0 (or left out)')
        component = Component(
            id=str(uuid.uuid4()),
            partner=partner,
            part_number=part.strip()[:128],
            serial=serial.strip()[:128],
            description=str(body.get("description", ""))[:255],
            kind=kind,
            life_hours=_optional(body, "life_hours", float),
            life_cycles=_optional(body, "life_cycles", int),
            tsn_hours=float(_optional(body, "tsn_hours", float) or 0.0),
            tsn_cycles=int(_optional(body, "tsn_cycles", int) or 0),
        )
        self.components.add(component, actor=actor)
        return component

    def install(
        self, partner: str, actor: str, aircraft_id: str, component_id: str, body: dict[str, Any]
    ) -> Installation:
        aircraft, component = (
            self._own(partner, aircraft_id),
            self._component(partner, component_id),
        )
        use = self.fleet.utilisation(aircraft)
        parent = body.get("parent_id")
        if parent is not None:
            fitted = {i.component_id for i in self._installed(aircraft.id)}
            if parent not in fitted:
                raise PlanningError(f"parent {parent} is not fitted to this aircraft")
        spell = Installation(
            component_id=component.id,
            aircraft_id=aircraft.id,
            position=str(body.get("position", ""))[:64],
            parent_id=None if parent is None else str(parent),
            installed_at=self._clock(),
            hours_at_install=use.hours,
            cycles_at_install=use.cycles,
        )
        assert self.components is not None
        self.components.install(partner, spell, actor=actor)
        return spell

    def remove(self, partner: str, actor: str, aircraft_id: str, component_id: str) -> None:
        aircraft, component = (
            self._own(partner, aircraft_id),
            self._component(partner, component_id),
        )
        if component.id not in {i.component_id for i in self._installed(aircraft.id)}:
            raise PlanningError(f"component {component_id} is not fitted to aircraft {aircraft_id}")
        use = self.fleet.utilisation(aircraft)
        assert self.components is not None
        self.components.remove(
            partner, component.id, self._clock(), use.hours, use.cycles, actor=actor
        )

    def configuration(self, aircraft: Aircraft) -> list[tuple[Component, Installation, float, int]]:
        """What is fitted now: (component, its installation, TSN hours, TSN cycles)."""
        if self.components is None:
            return []
        use = self.fleet.utilisation(aircraft)
        fitted = []
        for spell in self._installed(aircraft.id):
            component = self.components.get(spell.component_id)
            if component is None:
                continue
            history = self.components.installations(component_id=component.id)
            counters = {aircraft.id: (use.hours, use.cycles)}
            for other in {
                h.aircraft_id for h in history if h.current and h.aircraft_id != aircraft.id
            }:
                found = self.fleet.aircraft(other)
                if found is not None:
                    u = self.fleet.utilisation(found)
                    counters[other] = (u.hours, u.cycles)
            hours, cycles = time_since_new(component, history, counters)
            fitted.append((component, spell, hours, cycles))
        return fitted

    def battery_health(
        self, component: Component, may_see: Callable[[StoredLog], bool]
    ) -> BatteryHealth:
        """A battery's resistance readings and state of health, from the logs ingested on
        each aircraft it was fitted to while it was — those logs ``may_see`` lets the
        caller see (a depot assigned one aircraft sees nothing of the others' logs)."""
        if self.components is None:
            return BatteryHealth([])
        history = self.components.installations(component_id=component.id)
        logs: dict[str, list[StoredLog]] = {}
        for aircraft_id in {h.aircraft_id for h in history}:
            found = self.fleet.aircraft(aircraft_id)
            if found is not None:
                logs[aircraft_id] = [log for log in self.fleet.logs_of(found) if may_see(log)]
        return battery_health(component.id, history, logs)

    def _installed(self, aircraft_id: str) -> list[Installation]:
        if self.components is None:
            return []
        return [i for i in self.components.installations(aircraft_id=aircraft_id) if i.current]

    def _component(self, partner: str, component_id: str) -> Component:
        component = None if self.components is None else self.components.get(component_id)
        if component is None or component.partner != partner:
            raise AircraftNotFound(f"component {component_id} not found")
        return component

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

    def record_done(
        self,
        partner: str,
        actor: str,
        aircraft_id: str,
        task_code: str,
        component_id: str | None = None,
    ) -> Done:
        """A program task done on the aircraft, or — with ``component_id`` — on one of the
        components fitted to it, from that part's own program (its counters recorded)."""
        aircraft = self._own(partner, aircraft_id)
        if component_id is None:
            model = aircraft.model
            use = self.fleet.utilisation(aircraft)
            hours, cycles, subject = use.hours, use.cycles, aircraft.id
        else:
            fitted = [x for x in self.configuration(aircraft) if x[0].id == component_id]
            if not fitted:
                raise PlanningError(f"component {component_id} is not fitted to {aircraft_id}")
            component, _, hours, cycles = fitted[0]
            model, subject = component.part_number, component.id
        codes = {t.code for p, m, t in self.store.tasks(partner) if m == model}
        if task_code not in codes:
            raise PlanningError(f"{model}'s program has no task {task_code!r}")
        done = Done(task_code, self._clock(), hours, cycles)
        self.store.record_done(partner, subject, done, actor=actor)
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

    def defer_defect(
        self, partner: str, actor: str, aircraft_id: str, defect_id: str, body: dict[str, Any]
    ) -> None:
        """Let the aircraft fly with an open defect until a date and/or its hours reach a
        limit (a deferral with its reason, as an MEL allows)."""
        until_raw = body.get("until")
        hours = _optional(body, "hours_limit", float)
        reason = body.get("reason")
        if until_raw is None and hours is None:
            raise PlanningError('a deferral needs "until" (a date) or "hours_limit"')
        if not isinstance(reason, str) or not reason.strip():
            raise PlanningError('a deferral needs a "reason" (e.g. the MEL item)')
        until = None
        if until_raw is not None:
            try:
                until = datetime.fromisoformat(str(until_raw).replace("Z", "+00:00"))
            except ValueError as exc:
                raise PlanningError(f'"until" is not a date: {until_raw!r}') from exc
            until = until if until.tzinfo else until.replace(tzinfo=UTC)
        deferred = self.store.defer(
            partner, defect_id, until, hours, reason.strip(), actor=actor, aircraft_id=aircraft_id
        )
        if not deferred:
            raise PlanningError(f"no open defect {defect_id} of {partner}")

    def close_defect(self, partner: str, actor: str, aircraft_id: str, defect_id: str) -> None:
        if not self.store.close_defect(partner, defect_id, actor=actor, aircraft_id=aircraft_id):
            raise PlanningError(f"no open defect {defect_id} of {partner}")

    def due(self, aircraft: Aircraft) -> AircraftDue:
        now = self._clock()
        logs = self.fleet.logs_of(aircraft)  # read once: counters and rates come from them
        use = utilisation(aircraft, logs)
        recent = [
            log
            for log in logs
            if log.start_utc is not None and log.start_utc >= now - timedelta(days=RATE_WINDOW_DAYS)
        ]
        usage = Usage(
            at=now,
            hours=use.hours,
            cycles=use.cycles,
            hours_per_day=sum(x.airborne_s for x in recent) / 3600 / RATE_WINDOW_DAYS,
            cycles_per_day=sum(x.cycles for x in recent) / RATE_WINDOW_DAYS,
        )
        programs: dict[str, list[Task]] = {}  # by model: the aircraft's, its parts' numbers
        for _, model, task in self.store.tasks(aircraft.partner):
            programs.setdefault(model, []).append(task)
        since = aircraft.opening_as_of or aircraft.created_at or now
        items = due_list(
            programs.get(aircraft.model, []), self.store.done(aircraft.id), usage, since
        )
        configuration = self.configuration(aircraft)
        fitted = [(c, hours, cycles) for c, _, hours, cycles in configuration]
        for component, _, hours, cycles in configuration:
            if component.part_number in programs and self.components is not None:
                # The part's own program (a battery's), its calendar counted from when it
                # was first fitted anywhere: a refit does not restart the clock.
                history = self.components.installations(component_id=component.id)
                first_fitted = min(h.installed_at for h in history)
                items += component_program_items(
                    component, hours, cycles, programs[component.part_number],
                    self.store.done(component.id), usage, first_fitted,
                )  # fmt: skip
        items = soonest_first([*items, *life_items(fitted, usage)])
        defects = self.store.defects(aircraft.id)
        grounding = [
            d.title + (" (its deferral has run out)" if d.deferral_reason else "")
            for d in defects
            if d.critical and not d.deferred_at(now, use.hours)
        ]
        verdict = airworthiness(items, grounding)
        return AircraftDue(aircraft, usage, items, defects, verdict)

    def _own(self, partner: str, aircraft_id: str) -> Aircraft:
        aircraft = self.fleet.aircraft(aircraft_id)
        if aircraft is None:
            raise AircraftNotFound(f"aircraft {aircraft_id} not found")
        if aircraft.partner != partner:
            raise AircraftNotFound(f"aircraft {aircraft_id} not found")  # not theirs: 404
        return aircraft


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanningError(f'"{name}" must be a number')
    return kind(value)


class WorkOrderService:
    """Work orders across partners: the owner opens one on its aircraft and assigns a depot
    (its own or an ally's); the depot signs the cards, draws parts from its inventory and
    completes it, which records the program tasks done and closes the defects worked."""

    def __init__(
        self,
        mro: MroService,
        store: SqlWorkOrders,
        depots: Callable[[], frozenset[str]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mro = mro
        self.store = store
        self._depots = depots
        self._clock = clock

    def open(self, partner: str, actor: str, body: dict[str, Any]) -> WorkOrder:
        aircraft = self.mro._own(partner, str(body.get("aircraft_id", "")))
        depot = str(body.get("depot") or partner)
        if depot != partner and depot not in self._depots():
            raise PlanningError(f"{depot} runs no depot (partners file: depot = true)")
        raw_cards = body.get("cards")
        if not isinstance(raw_cards, list) or not raw_cards:
            raise PlanningError('a work order needs "cards": task codes, defects or titles')
        program = {t.code: t for p, m, t in self.mro.store.tasks(partner) if m == aircraft.model}
        defects = {d.id: d for d in self.mro.store.defects(aircraft.id)}
        cards = []
        for i, raw in enumerate(raw_cards):
            if not isinstance(raw, dict):
                raise PlanningError(f"cards[{i}] must be an object")
            if raw.get("task_code") is not None:
                task = program.get(str(raw["task_code"]))
                if task is None:
                    raise PlanningError(
                        f"cards[{i}]: {aircraft.model} has no task {raw['task_code']!r}"
                    )
                cards.append(TaskCard(task.title, task.critical, task_code=task.code))
            elif raw.get("defect_id") is not None:
                defect = defects.get(str(raw["defect_id"]))
                if defect is None:
                    raise PlanningError(f"cards[{i}]: no open defect {raw['defect_id']} on it")
                cards.append(TaskCard(defect.title, defect.critical, defect_id=defect.id))
            elif isinstance(raw.get("title"), str) and raw["title"].strip():
                cards.append(TaskCard(raw["title"].strip()[:255], bool(raw.get("critical"))))
            else:
                raise PlanningError(f"cards[{i}]: give a task_code, a defect_id or a title")
        order = WorkOrder(
            id=str(uuid.uuid4()),
            aircraft_id=aircraft.id,
            owner=partner,
            depot=depot,
            status=WorkOrderStatus.OPEN,
            cards=tuple(cards),
            opened_by=actor,
            opened_at=self._clock(),
        )
        self.store.add(order, actor=actor)
        return order

    def visible_to(self, partner: str, order: WorkOrder) -> bool:
        """The owner always; the assigned depot while the order is open."""
        return partner == order.owner or (order.open and partner == order.depot)

    def get(self, partner: str, order_id: str) -> tuple[WorkOrder, int]:
        found = self.store.get(order_id)
        if found is None or not self.visible_to(partner, found[0]):
            raise WorkOrderNotFound(f"work order {order_id} not found")
        return found

    def sign(self, partner: str, actor: str, order_id: str, index: int, second: bool) -> WorkOrder:
        order, version = self.get(partner, order_id)
        step = workorders.inspect if second else workorders.sign
        changed = step(order, index, actor, partner, self._clock())
        self.store.save(
            changed, version, actor=actor, partner=partner, action="inspect" if second else "sign"
        )
        return changed

    def draw(
        self, partner: str, actor: str, order_id: str, part_number: str, quantity: int
    ) -> WorkOrder:
        order, version = self.get(partner, order_id)
        if partner != order.depot:
            raise WorkOrderError("parts are drawn from the assigned depot's inventory")
        if not order.open:
            raise WorkOrderError(f"work order {order.id} is {order.status.value}")
        if quantity <= 0:
            raise PlanningError('"quantity" must be 1 or more')
        drawn = PartDrawn(part_number, quantity, actor, self._clock())
        changed = replace(order, parts=(*order.parts, drawn))
        self.store.save(changed, version, actor=actor, partner=partner, action="draw", draw=drawn)
        return changed

    def complete(self, partner: str, actor: str, order_id: str) -> WorkOrder:
        order, version = self.get(partner, order_id)
        done = workorders.complete(order, partner, self._clock())
        aircraft = self.mro.fleet.aircraft(order.aircraft_id)
        if aircraft is None:
            raise AircraftNotFound(f"aircraft {order.aircraft_id} not found")
        use = self.mro.fleet.utilisation(aircraft)

        def records(conn: Connection) -> None:
            """The owner's records — tasks done, defects rectified — written with the
            completion in one transaction: all of them or, on a failure, none."""
            for card in done.cards:
                if card.task_code is not None:
                    at = done.closed_at or self._clock()
                    self.mro.store.record_done(
                        order.owner,
                        aircraft.id,
                        Done(card.task_code, at, use.hours, use.cycles),
                        actor=f"{card.signed_by} ({order.depot})",
                        conn=conn,
                    )
                if card.defect_id is not None:
                    self.mro.store.close_defect(order.owner, card.defect_id, actor=actor, conn=conn)

        self.store.save(
            done, version, actor=actor, partner=partner, action="complete", also=records
        )
        return done


class WorkOrderNotFound(PlanningError):
    pass
