"""The maintenance due-list (pure core): whichever-first, never back in time, colours,
airworthiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronecoop.mro.due import (
    Done,
    DueStatus,
    Task,
    Usage,
    airworthiness,
    due_item,
    due_list,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = {DueStatus.GREEN: 0, DueStatus.AMBER: 1, DueStatus.RED: 2}

intervals = st.tuples(
    st.one_of(st.none(), st.floats(1, 500)),
    st.one_of(st.none(), st.integers(1, 1000)),
    st.one_of(st.none(), st.integers(1, 730)),
).filter(lambda i: any(v is not None for v in i))
tasks = st.builds(
    lambda i, tolerance: Task("T1", "inspect", i[0], i[1], i[2], tolerance),
    intervals,
    st.floats(0, 20),
)
usages = st.builds(
    Usage,
    at=st.integers(0, 400).map(lambda d: T0 + timedelta(days=d)),
    hours=st.floats(0, 2000),
    cycles=st.integers(0, 4000),
    hours_per_day=st.floats(0, 10),
    cycles_per_day=st.floats(0, 20),
)


@given(task=tasks, usage=usages)
@settings(max_examples=200, deadline=None)
def test_the_interval_that_falls_due_first_governs(task: Task, usage: Usage) -> None:
    item = due_item(task, None, usage, T0)
    candidates = []
    if task.hours is not None:
        candidates.append(("hours", item.remaining_hours, usage.hours_per_day))
    if task.cycles is not None:
        candidates.append(("cycles", item.remaining_cycles, usage.cycles_per_day))
    if task.days is not None:
        candidates.append(("days", item.remaining_days, 1.0))
    assert item.governed_by in {name for name, _, _ in candidates}
    if item.forecast is not None:
        forecast_days = (item.forecast - usage.at).total_seconds() / 86_400
        for _name, left, rate in candidates:  # no interval falls due before the forecast
            if left is not None and left > 0 and rate > 0:
                assert forecast_days <= left / rate + 1e-6


@given(
    task=tasks,
    usage=usages,
    more_hours=st.floats(0, 300),
    more_cycles=st.integers(0, 500),
    more_days=st.integers(0, 200),
)
@settings(max_examples=200, deadline=None)
def test_flying_on_never_moves_the_due_list_back_in_time(
    task: Task, usage: Usage, more_hours: float, more_cycles: int, more_days: int
) -> None:
    later = Usage(
        at=usage.at + timedelta(days=more_days),
        hours=usage.hours + more_hours,
        cycles=usage.cycles + more_cycles,
        hours_per_day=usage.hours_per_day,
        cycles_per_day=usage.cycles_per_day,
    )
    before, after = due_item(task, None, usage, T0), due_item(task, None, later, T0)
    for a, b in (
        (before.remaining_hours, after.remaining_hours),
        (before.remaining_cycles, after.remaining_cycles),
        (before.remaining_days, after.remaining_days),
    ):
        if a is not None and b is not None:
            assert b <= a + 1e-9
    assert ORDER[after.status] >= ORDER[before.status]


def test_colours_tolerance_and_a_task_done_resets_it() -> None:
    task = Task("PROP-50", "propeller inspection", hours=50, cycles=100, tolerance_pct=10)
    now = T0 + timedelta(days=30)

    def at(hours: float, cycles: int = 0) -> Usage:
        return Usage(now, hours, cycles, hours_per_day=2.0, cycles_per_day=3.0)

    assert due_item(task, None, at(10), T0).status is DueStatus.GREEN
    assert due_item(task, None, at(46), T0).status is DueStatus.AMBER  # last 10 %
    assert due_item(task, None, at(54), T0).status is DueStatus.AMBER  # over, in tolerance
    red = due_item(task, None, at(56), T0)
    assert red.status is DueStatus.RED
    cycles_first = due_item(task, None, at(10, 95), T0)  # whichever first: cycles
    assert cycles_first.governed_by == "cycles"
    assert cycles_first.forecast == now + timedelta(days=5 / 3)
    done = Done("PROP-50", now, hours=56, cycles=0)
    fresh = due_list([task], [done], at(56), T0)[0]
    assert fresh.status is DueStatus.GREEN
    assert fresh.remaining_hours == 50
    verdict = airworthiness([red])
    assert not verdict.airworthy
    assert verdict.reasons == ["PROP-50 propeller inspection: overdue by 6.0 h"]
    assert airworthiness([fresh]).airworthy
    assert not airworthiness([fresh], ["motor 3 bearing noise"]).airworthy


def test_a_calendar_task_falls_due_without_flying() -> None:
    annual = Task("ANNUAL", "annual inspection", days=365)
    idle = Usage(T0 + timedelta(days=400), 0.0, 0, hours_per_day=0.0, cycles_per_day=0.0)
    item = due_item(annual, None, idle, T0)
    assert item.status is DueStatus.RED
    assert item.remaining_days == pytest.approx(-35)
    never = due_item(Task("H", "hours only", hours=10), None, idle, T0)
    assert never.forecast is None  # not flying: an hours-only task never falls due
    with pytest.raises(ValueError, match="at least one interval"):
        Task("X", "nothing")
