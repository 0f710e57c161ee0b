"""Strategic deconfliction of a planned flight against everyone else's (pure core).

``find_conflicts`` says which of the other operations' volumes meet ours, and where and
when; ``decide`` applies the F3548-21 priority rules: an operation may not be planned in
conflict with one of higher priority, nor with one of equal priority unless that
priority level allows conflicts; conflicts with lower priorities do not block it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shapely.geometry import Polygon

from dronecoop.airspace import geo
from dronecoop.airspace.geo import LatLng, PolygonOutline, Volume4D


@dataclass(frozen=True, slots=True)
class Operation:
    """Another operation (a partner's flight, or a constraint) in the same airspace."""

    id: str
    partner: str
    priority: int
    volumes: tuple[Volume4D, ...]
    kind: str = "flight"  # "constraint" or "unknown" (no details here): those always block
    note: str = ""  # why an "unknown" operation has no details (its USS did not answer)


@dataclass(frozen=True, slots=True)
class Conflict:
    other: Operation
    our_volume: int
    their_volume: int
    near: LatLng  # inside both outlines
    start: datetime | None
    end: datetime | None
    altitude_lower_w84_m: float | None
    altitude_upper_w84_m: float | None

    def describe(self) -> str:
        """One line a planner can act on: whose, where, when, how high."""
        where = f"{abs(self.near.lat_deg):.5f}°{'N' if self.near.lat_deg >= 0 else 'S'} " + (
            f"{abs(self.near.lng_deg):.5f}°{'E' if self.near.lng_deg >= 0 else 'W'}"
        )
        when = (
            f"{_hhmm(self.start)} to {_hhmm(self.end)} UTC"
            if self.start is not None and self.end is not None
            else "at any time"
        )
        band = (
            f"{self.altitude_lower_w84_m:.0f} to {self.altitude_upper_w84_m:.0f} m (WGS-84)"
            if self.altitude_lower_w84_m is not None and self.altitude_upper_w84_m is not None
            else "at any altitude"
        )
        if self.other.kind == "constraint":
            named = f" ({self.other.note})" if self.other.note else ""
            what = f"{self.other.partner}'s constraint {self.other.id}{named}"
        elif self.other.kind == "unknown":
            why = f": {self.other.note}" if self.other.note else ""
            what = (
                f"operational intent {self.other.id} of {self.other.partner} "
                f"(no details{why}; assumed to fill its whole area)"
            )
        else:
            what = f"{self.other.partner}'s flight {self.other.id} (priority {self.other.priority})"
        return f"conflicts with {what} near {where}, {when}, {band}"


@dataclass(frozen=True, slots=True)
class PriorityRules:
    """Priority levels (F3548-21) at which two operations of equal priority may conflict."""

    conflicts_allowed_at: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Decision:
    accepted: bool
    blocking: tuple[Conflict, ...]  # why not, when refused
    tolerated: tuple[Conflict, ...]  # conflicts the rules allow (lower or permitted priority)


def find_conflicts(ours: Sequence[Volume4D], others: Iterable[Operation]) -> list[Conflict]:
    """Every (our volume, their volume) pair that shares space and time."""
    found = []
    for other in others:
        for i, mine in enumerate(ours):
            for j, theirs in enumerate(other.volumes):
                if geo.volumes_intersect(mine, theirs):
                    found.append(_conflict(other, i, j, mine, theirs))
    return found


def decide(priority: int, conflicts: Iterable[Conflict], rules: PriorityRules) -> Decision:
    blocking, tolerated = [], []
    for conflict in conflicts:
        theirs = conflict.other.priority
        equal_not_allowed = theirs == priority and priority not in rules.conflicts_allowed_at
        always_blocks = conflict.other.kind in ("constraint", "unknown")
        if always_blocks or theirs > priority or equal_not_allowed:
            blocking.append(conflict)
        else:
            tolerated.append(conflict)
    return Decision(not blocking, tuple(blocking), tuple(tolerated))


def _conflict(other: Operation, i: int, j: int, a: Volume4D, b: Volume4D) -> Conflict:
    return Conflict(
        other=other,
        our_volume=i,
        their_volume=j,
        near=_common_point(a, b),
        start=_later(a.time_start, b.time_start),
        end=_earlier(a.time_end, b.time_end),
        altitude_lower_w84_m=_max(a.altitude_lower_w84_m, b.altitude_lower_w84_m),
        altitude_upper_w84_m=_min(a.altitude_upper_w84_m, b.altitude_upper_w84_m),
    )


def _common_point(a: Volume4D, b: Volume4D) -> LatLng:
    """A point inside both outlines (lng/lat plane: for saying where, not for deciding)."""
    shapes = [_plane(v) for v in (a, b)]
    if shapes[0] is None or shapes[1] is None:
        shape = shapes[0] or shapes[1]
        point = shape.representative_point() if shape is not None else None
    else:
        common = shapes[0].intersection(shapes[1])
        point = (common if not common.is_empty else shapes[0]).representative_point()
    return LatLng(point.y, point.x) if point is not None else LatLng(0.0, 0.0)


def _plane(volume: Volume4D) -> Polygon | None:
    outline = volume.outline
    if outline is None:
        return None
    if isinstance(outline, PolygonOutline):
        return Polygon([(v.lng_deg, v.lat_deg) for v in outline.vertices])
    ref = outline.center
    # A circle's radius in degrees of latitude and of longitude at its centre.
    dlat = outline.radius_m / 111_320.0
    dlng = dlat / max(0.01, abs(_cos_deg(ref.lat_deg)))
    return Polygon(
        [
            (ref.lng_deg + dlng * _cos_deg(a), ref.lat_deg + dlat * _sin_deg(a))
            for a in range(0, 360, 360 // geo.CIRCLE_SEGMENTS)
        ]
    )


def _cos_deg(degrees: float) -> float:
    return math.cos(math.radians(degrees))


def _sin_deg(degrees: float) -> float:
    return math.sin(math.radians(degrees))


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
