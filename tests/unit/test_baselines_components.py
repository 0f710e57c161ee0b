"""Parameter diffs and components' time since new (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from dronecoop.fleet.baselines import diff
from dronecoop.fleet.components import Component, Installation, time_since_new

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_parameter_diff_sees_changes_not_float32_noise() -> None:
    result = diff({"A": 0.1, "B": 2.0, "C": 3.0}, {"A": 0.10000000149011612, "B": 2.5, "D": 1.0})
    assert result.changed == [("B", 2.0, 2.5)]  # 0.1 as a 32-bit float is still 0.1
    assert result.missing == ["C"]
    assert result.extra == ["D"]
    assert not result.clean
    assert diff({"A": 1.0}, {"A": 1.0, "X": 2.0}).clean


def test_time_since_new_adds_each_installation_and_the_current_one() -> None:
    part = Component("c1", "rok", "ESC", "E1", tsn_hours=5.0, tsn_cycles=10)
    spells = [
        Installation("c1", "a1", "arm 1", None, T, 100.0, 50, T, 102.5, 60),  # removed
        Installation("c1", "a2", "arm 3", None, T, 40.0, 7),  # on a2 now
        Installation("c2", "a2", "arm 4", None, T, 0.0, 0),  # another component
    ]
    hours, cycles = time_since_new(part, spells, {"a2": (41.0, 9)})
    assert (hours, cycles) == (5.0 + 2.5 + 1.0, 10 + 10 + 2)
    assert time_since_new(part, [], {}) == (5.0, 10)
