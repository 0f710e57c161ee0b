"""A mission as the planner sees it: where the aircraft goes, in order, and its fences.

Positions keep the altitude and the reference the plan gave them (``AltitudeReference``);
turning them into one datum needs the home point and, for terrain-following legs, terrain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AltitudeReference(StrEnum):
    """What a mission altitude is measured from (from the item's MAVLink frame)."""

    AMSL = "amsl"  # MAV_FRAME_GLOBAL(_INT): above mean sea level
    HOME = "home"  # MAV_FRAME_GLOBAL_RELATIVE_ALT(_INT): above the home position
    TERRAIN = "terrain"  # MAV_FRAME_GLOBAL_TERRAIN_ALT(_INT): above the ground below


@dataclass(frozen=True, slots=True)
class Position:
    """A point the aircraft flies to (a mission waypoint, takeoff, landing, loiter ...)."""

    lat_deg: float
    lng_deg: float
    altitude_m: float
    reference: AltitudeReference
    command: int  # the MAVLink MAV_CMD that put it there


@dataclass(frozen=True, slots=True)
class FencePolygon:
    vertices: tuple[tuple[float, float], ...]  # (lat, lng)
    inclusion: bool


@dataclass(frozen=True, slots=True)
class FenceCircle:
    center: tuple[float, float]  # (lat, lng)
    radius_m: float
    inclusion: bool


@dataclass(frozen=True, slots=True)
class Geofence:
    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()
    breach_return: tuple[float, float, float] | None = None  # (lat, lng, alt)


@dataclass(frozen=True, slots=True)
class SurveyArea:
    """An area the aircraft sweeps (a QGC survey): its polygon and the positions that fly it."""

    polygon: tuple[tuple[float, float], ...]  # (lat, lng)
    first: int  # index of its first position in Mission.positions
    last: int  # index of its last position (inclusive)


@dataclass(frozen=True, slots=True)
class Mission:
    """What the aircraft will do; ``document`` keeps the source file for a faithful export."""

    home: tuple[float, float, float | None]  # (lat, lng, alt AMSL m or unknown)
    positions: tuple[Position, ...]
    geofence: Geofence = Geofence()
    rally_points: tuple[tuple[float, float, float], ...] = ()
    cruise_speed_mps: float | None = None
    hover_speed_mps: float | None = None
    returns_home: bool = False  # ends with RETURN_TO_LAUNCH
    surveys: tuple[SurveyArea, ...] = ()
    document: dict[str, Any] | None = field(default=None, compare=False, repr=False)
