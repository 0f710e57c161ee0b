"""Components (pure): serials, life limits, where each was installed and for how long.

A component's time since new is its opening balance plus, for every installation, what
its aircraft flew while it was installed (counters recorded at install and removal). A
life-limited part becomes a due-list item of its aircraft: due at its life limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dronecoop.mro.due import Done, DueItem, Task, Usage, due_item, due_list


@dataclass(frozen=True, slots=True)
class Component:
    id: str
    partner: str
    part_number: str
    serial: str
    description: str = ""
    kind: str = "part"  # "part" or "battery"
    life_hours: float | None = None
    life_cycles: int | None = None
    tsn_hours: float = 0.0  # time since new when it came into the registry
    tsn_cycles: int = 0


@dataclass(frozen=True, slots=True)
class Installation:
    component_id: str
    aircraft_id: str
    position: str
    parent_id: str | None  # the component it is fitted to (configuration tree), if any
    installed_at: datetime
    hours_at_install: float
    cycles_at_install: int
    removed_at: datetime | None = None
    hours_at_removal: float | None = None
    cycles_at_removal: int | None = None

    @property
    def current(self) -> bool:
        return self.removed_at is None


def time_since_new(
    component: Component,
    installations: Iterable[Installation],
    aircraft_counters: dict[str, tuple[float, int]],
) -> tuple[float, int]:
    """Hours and cycles since new: opening balance + each installation's share (the
    current one up to the aircraft's counters now)."""
    hours, cycles = component.tsn_hours, component.tsn_cycles
    for spell in installations:
        if spell.component_id != component.id:
            continue
        if spell.current:
            now_hours, now_cycles = aircraft_counters.get(
                spell.aircraft_id, (spell.hours_at_install, spell.cycles_at_install)
            )
        else:
            now_hours = (
                spell.hours_at_install if spell.hours_at_removal is None else spell.hours_at_removal
            )
            now_cycles = (
                spell.cycles_at_install
                if spell.cycles_at_removal is None
                else spell.cycles_at_removal
            )
        hours += max(0.0, now_hours - spell.hours_at_install)
        cycles += max(0, now_cycles - spell.cycles_at_install)
    return hours, cycles


def life_items(
    installed: Sequence[tuple[Component, float, int]], aircraft_usage: Usage
) -> list[DueItem]:
    """A due item per life-limited component installed: (component, TSN hours, TSN cycles)."""
    items = []
    for component, hours, cycles in installed:
        if component.life_hours is None and component.life_cycles is None:
            continue
        task = Task(
            code=f"LLP {component.part_number} s/n {component.serial}",
            title=f"life limit of {component.description or component.part_number}",
            hours=component.life_hours,
            cycles=component.life_cycles,
            critical=True,
        )
        usage = replace(aircraft_usage, hours=hours, cycles=cycles)  # the part's, at its rates
        items.append(due_item(task, None, usage, aircraft_usage.at))
    return items


def component_program_items(
    component: Component,
    hours: float,
    cycles: int,
    tasks: Sequence[Task],
    done: Iterable[Done],
    aircraft_usage: Usage,
    since: datetime,
) -> list[DueItem]:
    """A component's own program — the tasks of the "model" that is its part number, e.g.
    a battery's capacity check every 50 of *its* cycles — counted on its time since new
    (``hours``, ``cycles``) at its aircraft's rates; each item names the serial."""
    usage = replace(aircraft_usage, hours=hours, cycles=cycles)
    named = f"{component.part_number} s/n {component.serial}"
    return [
        replace(
            item,
            task=replace(item.task, code=f"{item.task.code} {named}"),
            component_id=component.id,
            program_code=item.task.code,
        )
        for item in due_list(tasks, done, usage, since)
    ]
