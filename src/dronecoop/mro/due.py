"""Maintenance due-list and airworthiness (pure: no I/O, no clock of its own).

A task repeats at whichever comes first of its intervals (flight hours, cycles, calendar
days), counted from when it was last done (or from zero if never). Each item says how much
is left of each interval, which one governs, when it is forecast to fall due at the
aircraft's own utilisation, and a colour:

- red: past the limit and past its tolerance too — the aircraft is grounded;
- amber: past the limit but within its tolerance, or within ``AMBER_FRACTION`` of it;
- green: otherwise.

An aircraft is airworthy unless a task is red or a critical defect is open.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

AMBER_FRACTION = 0.1  # within the last 10 % of an interval: plan it now
FORECAST_HORIZON_DAYS = 36_500  # further than a century away: not forecast at all


class DueStatus(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a maintenance program for a model."""

    code: str
    title: str
    hours: float | None = None
    cycles: int | None = None
    days: int | None = None
    tolerance_pct: float = 0.0  # how far past the limit it may still be done, in %
    critical: bool = False

    def __post_init__(self) -> None:
        limits = [self.hours, self.cycles, self.days]
        if all(v is None for v in limits):
            raise ValueError(f"task {self.code}: give at least one interval")
        if any(v is not None and v <= 0 for v in limits):
            raise ValueError(f"task {self.code}: intervals must be positive")
        if not 0 <= self.tolerance_pct <= 50:
            raise ValueError(f"task {self.code}: tolerance must be 0-50 %")


@dataclass(frozen=True, slots=True)
class Done:
    """A task carried out, with the aircraft's counters at the time."""

    task_code: str
    at: datetime
    hours: float
    cycles: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Where the aircraft stands now, and how fast it flies (per calendar day)."""

    at: datetime
    hours: float
    cycles: int
    hours_per_day: float
    cycles_per_day: float


@dataclass(frozen=True, slots=True)
class DueItem:
    task: Task
    last_done: Done | None
    remaining_hours: float | None
    remaining_cycles: int | None
    remaining_days: float | None
    governed_by: str  # "hours", "cycles" or "days": the one that falls due first
    forecast: datetime | None  # when it falls due at this utilisation (None: not foreseen)
    status: DueStatus
    # A part's own program task: the part it is on, and the program's task code to record
    # it done with (``task.code`` then names the part too, for people).
    component_id: str | None = None
    program_code: str | None = None


def due_item(task: Task, last: Done | None, usage: Usage, since: datetime) -> DueItem:
    """``task`` on an aircraft at ``usage``; ``since`` is when its counting began if the task
    was never done (the aircraft's opening date)."""
    base_at = last.at if last else since
    base_hours = last.hours if last else 0.0
    base_cycles = last.cycles if last else 0
    remaining: dict[str, float] = {}
    days_left: dict[str, float] = {}  # calendar days until due, per interval
    if task.hours is not None:
        left = task.hours - (usage.hours - base_hours)
        remaining["hours"] = left
        days_left["hours"] = _days_at(left, usage.hours_per_day)
    if task.cycles is not None:
        left_c = task.cycles - (usage.cycles - base_cycles)
        remaining["cycles"] = left_c
        days_left["cycles"] = _days_at(left_c, usage.cycles_per_day)
    if task.days is not None:
        left_d = task.days - (usage.at - base_at).total_seconds() / 86_400
        remaining["days"] = left_d
        days_left["days"] = left_d
    governed_by = min(days_left, key=lambda k: (days_left[k], k))
    soonest = days_left[governed_by]
    if math.isinf(soonest) or soonest > FORECAST_HORIZON_DAYS:
        forecast = None  # not foreseen at this utilisation
    else:  # overdue ones keep a date (long past, at most a century back), so they sort first
        forecast = usage.at + timedelta(days=max(soonest, -FORECAST_HORIZON_DAYS))
    return DueItem(
        task=task,
        last_done=last,
        remaining_hours=remaining.get("hours"),
        remaining_cycles=None if "cycles" not in remaining else int(remaining["cycles"]),
        remaining_days=remaining.get("days"),
        governed_by=governed_by,
        forecast=forecast,
        status=_status(task, remaining),
    )


def due_list(
    tasks: Iterable[Task], done: Iterable[Done], usage: Usage, since: datetime
) -> list[DueItem]:
    """Every task's item, soonest first (overdue ones at the top)."""
    last: dict[str, Done] = {}
    for record in done:
        kept = last.get(record.task_code)
        if kept is None or record.at > kept.at:
            last[record.task_code] = record
    return soonest_first([due_item(t, last.get(t.code), usage, since) for t in tasks])


def soonest_first(items: Iterable[DueItem]) -> list[DueItem]:
    """Red first, then by when each falls due (not foreseen last)."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        items,
        key=lambda i: (i.status is not DueStatus.RED, i.forecast or far, i.task.code),
    )


@dataclass(frozen=True, slots=True)
class Airworthiness:
    airworthy: bool
    reasons: list[str]


def airworthiness(
    items: Sequence[DueItem], open_critical_defects: Sequence[str] = ()
) -> Airworthiness:
    reasons = [
        f"{i.task.code} {i.task.title}: overdue by {_overdue(i)}"
        for i in items
        if i.status is DueStatus.RED
    ]
    reasons += [f"open critical defect: {d}" for d in open_critical_defects]
    return Airworthiness(not reasons, reasons)


def _status(task: Task, remaining: dict[str, float]) -> DueStatus:
    limits = {"hours": task.hours, "cycles": task.cycles, "days": task.days}
    worst = DueStatus.GREEN
    for name, left in remaining.items():
        limit = float(limits[name] or 0)
        if left < -limit * task.tolerance_pct / 100:
            return DueStatus.RED
        if left < 0 or left <= limit * AMBER_FRACTION:
            worst = DueStatus.AMBER
    return worst


def _days_at(left: float, per_day: float) -> float:
    if left <= 0:
        return left / per_day if per_day > 0 else 0.0  # already due: how long ago, roughly
    return left / per_day if per_day > 0 else math.inf


def _overdue(item: DueItem) -> str:
    parts = []
    if item.remaining_hours is not None and item.remaining_hours < 0:
        parts.append(f"{-item.remaining_hours:.1f} h")
    if item.remaining_cycles is not None and item.remaining_cycles < 0:
        parts.append(f"{-item.remaining_cycles} cycles")
    if item.remaining_days is not None and item.remaining_days < 0:
        parts.append(f"{-item.remaining_days:.0f} days")
    return ", ".join(parts) or "its limit"
