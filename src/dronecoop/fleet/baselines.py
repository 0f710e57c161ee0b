"""Parameter baselines (pure): what a model's autopilot parameters should be, and how a
log's differ — the configuration control a depot checks after work on an aircraft."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParameterDiff:
    changed: list[tuple[str, float, float]]  # (name, baseline, log)
    missing: list[str]  # in the baseline, not in the log
    extra: list[str]  # in the log, not in the baseline

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing)


def diff(
    baseline: Mapping[str, float], actual: Mapping[str, float], rel_tol: float = 1e-6
) -> ParameterDiff:
    """How ``actual`` differs from ``baseline`` (floats compared with a relative tolerance:
    logs store parameters as 32-bit floats)."""
    changed = [
        (name, float(want), float(actual[name]))
        for name, want in sorted(baseline.items())
        if name in actual
        and not math.isclose(float(want), float(actual[name]), rel_tol=rel_tol, abs_tol=1e-9)
    ]
    return ParameterDiff(
        changed=changed,
        missing=sorted(set(baseline) - set(actual)),
        extra=sorted(set(actual) - set(baseline)),
    )
