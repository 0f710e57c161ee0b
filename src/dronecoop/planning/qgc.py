"""QGroundControl ``.plan`` files: read into a ``Mission``, and write back.

Handles what QGroundControl has written over the years (see ../shared/data/plans): items
with ``coordinate`` + 4 params (QGC 3.1) or 7 params; ``null`` params (NaN); complex items
(survey, CorridorScan) through the MAVLink items they store; geofence v1 (one polygon) and
v2 (polygons and circles, inclusion/exclusion, ArduPilot's breachReturn); rally points.
Coordinates in a plan are ``[lat, lon, alt]`` — latitude first. A StructureScan stores no
generated items, so a file with one is refused (re-save it after generating in QGC).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.mission import (
    AltitudeReference,
    FenceCircle,
    FencePolygon,
    Geofence,
    Mission,
    Position,
    SurveyArea,
)

# MAV_FRAME values and the reference they measure altitude from.
_FRAMES = {
    0: AltitudeReference.AMSL,  # GLOBAL
    5: AltitudeReference.AMSL,  # GLOBAL_INT
    3: AltitudeReference.HOME,  # GLOBAL_RELATIVE_ALT
    6: AltitudeReference.HOME,  # GLOBAL_RELATIVE_ALT_INT
    10: AltitudeReference.TERRAIN,  # GLOBAL_TERRAIN_ALT
    11: AltitudeReference.TERRAIN,  # GLOBAL_TERRAIN_ALT_INT
}
# MAV_CMDs whose latitude/longitude are a place the aircraft flies to.
NAV_WAYPOINT, NAV_RTL, NAV_LAND, NAV_TAKEOFF = 16, 20, 21, 22
_FLOWN_TO = {
    NAV_WAYPOINT,
    17,  # LOITER_UNLIM
    18,  # LOITER_TURNS
    19,  # LOITER_TIME
    NAV_LAND,
    NAV_TAKEOFF,
    31,  # LOITER_TO_ALT
    82,  # SPLINE_WAYPOINT
    84,  # VTOL_TAKEOFF
    85,  # VTOL_LAND
}
_TAKEOFFS = {NAV_TAKEOFF, 84}


def read_plan(data: bytes | str) -> Mission:
    """The mission in a ``.plan`` file's bytes; PlanFileError says what is wrong."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PlanFileError(f"not a QGroundControl plan: the file is not JSON ({exc})") from exc
    return plan_from_document(document)


def plan_from_document(document: Any) -> Mission:
    if not isinstance(document, dict) or document.get("fileType") != "Plan":
        raise PlanFileError('not a QGroundControl plan: "fileType" is not "Plan"')
    mission = _table(document, "mission")
    home_raw = mission.get("plannedHomePosition")
    if not isinstance(home_raw, list) or len(home_raw) < 2:
        raise PlanFileError("mission.plannedHomePosition must be [lat, lon, alt]")
    home_lat, home_lng = (
        _lat(home_raw[0], "plannedHomePosition"),
        _lng(home_raw[1], "plannedHomePosition"),
    )
    home_alt = _number_or_none(home_raw[2] if len(home_raw) > 2 else None)
    items = mission.get("items", [])
    if not isinstance(items, list):
        raise PlanFileError("mission.items must be a list")
    positions: list[Position] = []
    returns_home = False
    survey_spans: dict[int, list[int]] = {}  # survey item index -> its position indices
    survey_polygons: dict[int, tuple[tuple[float, float], ...]] = {}
    for where, item, survey in _simple_items(items):
        command = item.get("command")
        if not isinstance(command, int):
            raise PlanFileError(f"{where}: command must be an integer MAV_CMD")
        if command == NAV_RTL:
            returns_home = True
            continue
        if command not in _FLOWN_TO:
            continue
        lat, lng, alt = _coordinates(item, where)
        frame = item.get("frame")
        reference = _FRAMES.get(frame) if isinstance(frame, int) else None
        if reference is None:
            raise PlanFileError(f"{where}: MAVLink frame {frame!r} has no global altitude")
        if command in _TAKEOFFS and lat == 0 and lng == 0:
            lat, lng = home_lat, home_lng  # ArduPilot: take off where you are
        if survey is not None:
            number, polygon = survey
            survey_polygons[number] = polygon
            survey_spans.setdefault(number, []).append(len(positions))
        positions.append(
            Position(
                lat_deg=_lat(lat, where),
                lng_deg=_lng(lng, where),
                altitude_m=alt,
                reference=reference,
                command=command,
            )
        )
    return Mission(
        surveys=tuple(
            SurveyArea(survey_polygons[n], min(span), max(span))
            for n, span in sorted(survey_spans.items())
        ),
        home=(home_lat, home_lng, home_alt),
        positions=tuple(positions),
        geofence=_geofence(document.get("geoFence")),
        rally_points=_rally(document.get("rallyPoints")),
        cruise_speed_mps=_number_or_none(mission.get("cruiseSpeed")),
        hover_speed_mps=_number_or_none(mission.get("hoverSpeed")),
        returns_home=returns_home,
        document=copy.deepcopy(document),
    )


def write_plan(mission: Mission) -> bytes:
    """A ``.plan`` for ``mission``: the file it was read from, or a new QGC v1 plan."""
    if mission.document is not None:
        return orjson.dumps(mission.document, option=orjson.OPT_INDENT_2)
    home_lat, home_lng, home_alt = mission.home
    items: list[dict[str, Any]] = []
    for n, p in enumerate(mission.positions, start=1):
        frame = {v: k for k, v in reversed(list(_FRAMES.items()))}[p.reference]
        items.append(
            {
                "autoContinue": True,
                "command": p.command,
                "doJumpId": n,
                "frame": frame,
                "params": [0, 0, 0, None, p.lat_deg, p.lng_deg, p.altitude_m],
                "type": "SimpleItem",
            }
        )
    if mission.returns_home:
        items.append(
            {
                "autoContinue": True,
                "command": NAV_RTL,
                "doJumpId": len(items) + 1,
                "frame": 2,
                "params": [0, 0, 0, 0, 0, 0, 0],
                "type": "SimpleItem",
            }
        )
    fence = mission.geofence
    document = {
        "fileType": "Plan",
        "groundStation": "dronecoop",
        "version": 1,
        "mission": {
            "cruiseSpeed": mission.cruise_speed_mps,
            "hoverSpeed": mission.hover_speed_mps,
            "firmwareType": 12,
            "vehicleType": 2,
            "version": 2,
            "plannedHomePosition": [home_lat, home_lng, home_alt],
            "items": items,
        },
        "geoFence": {
            "version": 2,
            "polygons": [
                {"inclusion": p.inclusion, "polygon": [list(v) for v in p.vertices], "version": 1}
                for p in fence.polygons
            ],
            "circles": [
                {
                    "circle": {"center": list(c.center), "radius": c.radius_m},
                    "inclusion": c.inclusion,
                    "version": 1,
                }
                for c in fence.circles
            ],
            **({"breachReturn": list(fence.breach_return)} if fence.breach_return else {}),
        },
        "rallyPoints": {"version": 2, "points": [list(p) for p in mission.rally_points]},
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


Survey = tuple[int, tuple[tuple[float, float], ...]]  # (item index, polygon (lat, lng))


def _simple_items(
    items: list[Any], where: str = "mission.items", survey: Survey | None = None
) -> Iterator[tuple[str, dict[str, Any], Survey | None]]:
    """Every MAVLink item in flight order, complex items replaced by the items they store;
    the items a survey stores come with that survey (its item index and polygon)."""
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise PlanFileError(f"{here} must be an object")
        kind = item.get("type")
        if kind == "SimpleItem":
            yield here, item, survey
        elif kind == "ComplexItem":
            complex_type = item.get("complexItemType", "?")
            stored = item.get("TransectStyleComplexItem", {}).get("Items")
            if not isinstance(stored, list) or not stored:
                raise PlanFileError(
                    f"{here}: {complex_type} stores no generated MAVLink items; open the plan "
                    "in QGroundControl so that it generates them, save it, and import again"
                )
            area = _survey_polygon(item, here) if complex_type == "survey" else None
            inner = (i, area) if area is not None else survey
            yield from _simple_items(stored, f"{here}.{complex_type}.Items", inner)
        else:
            raise PlanFileError(f"{here}: unknown item type {kind!r}")


def _survey_polygon(item: Mapping[str, Any], where: str) -> tuple[tuple[float, float], ...] | None:
    raw = item.get("polygon")
    if not isinstance(raw, list) or len(raw) < 3:
        return None  # no area to speak of: the stored items' path is used instead
    points = tuple(
        (_lat(p[0], f"{where}.polygon"), _lng(p[1], f"{where}.polygon"))
        for p in raw
        if isinstance(p, list) and len(p) >= 2
    )
    return points if len(points) >= 3 else None  # no area: its stored path is used


def _coordinates(item: Mapping[str, Any], where: str) -> tuple[Any, Any, float]:
    if "coordinate" in item:  # QGC 3.1 layout
        coordinate = item["coordinate"]
        if not isinstance(coordinate, list) or len(coordinate) != 3:
            raise PlanFileError(f"{where}: coordinate must be [lat, lon, alt]")
        lat, lng, alt = coordinate
    else:
        params = item.get("params")
        if not isinstance(params, list) or len(params) != 7:
            raise PlanFileError(f"{where}: params must hold 7 values")
        lat, lng, alt = params[4], params[5], params[6]
    altitude = _number_or_none(alt)
    if altitude is None:
        raise PlanFileError(f"{where}: altitude is missing")
    return lat, lng, altitude


def _geofence(raw: Any) -> Geofence:
    if raw is None:
        return Geofence()
    if not isinstance(raw, dict):
        raise PlanFileError("geoFence must be an object")
    polygons: list[FencePolygon] = []
    if raw.get("polygon"):  # v1: one inclusion polygon
        polygons.append(FencePolygon(_points(raw["polygon"], "geoFence.polygon"), inclusion=True))
    for i, p in enumerate(raw.get("polygons", [])):
        polygons.append(
            FencePolygon(
                _points(p.get("polygon"), f"geoFence.polygons[{i}]"),
                inclusion=bool(p.get("inclusion", True)),
            )
        )
    circles = []
    for i, c in enumerate(raw.get("circles", [])):
        circle = c.get("circle", {})
        center = _points([circle.get("center")], f"geoFence.circles[{i}]")[0]
        radius = _number_or_none(circle.get("radius"))
        if radius is None or radius <= 0:
            raise PlanFileError(f"geoFence.circles[{i}]: radius must be a positive number")
        circles.append(FenceCircle(center, radius, inclusion=bool(c.get("inclusion", True))))
    breach = raw.get("breachReturn")
    breach_return = None
    if isinstance(breach, list) and len(breach) == 3:
        (lat, lng), alt = _points([breach[:2]], "geoFence.breachReturn")[0], breach[2]
        breach_return = (lat, lng, float(alt))
    return Geofence(tuple(polygons), tuple(circles), breach_return)


def _rally(raw: Any) -> tuple[tuple[float, float, float], ...]:
    if raw is None:
        return ()
    points = raw.get("points", []) if isinstance(raw, dict) else None
    if not isinstance(points, list):
        raise PlanFileError("rallyPoints.points must be a list")
    rally = []
    for i, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 3:
            raise PlanFileError(f"rallyPoints.points[{i}] must be [lat, lon, alt]")
        rally.append(
            (
                _lat(point[0], f"rallyPoints[{i}]"),
                _lng(point[1], f"rallyPoints[{i}]"),
                float(point[2]),
            )
        )
    return tuple(rally)


def _points(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        raise PlanFileError(f"{where} must be a list of [lat, lon]")
    points = []
    for point in raw:
        if not isinstance(point, list) or len(point) < 2:
            raise PlanFileError(f"{where}: every point must be [lat, lon]")
        points.append((_lat(point[0], where), _lng(point[1], where)))
    return tuple(points)


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    if not isinstance(value, dict):
        raise PlanFileError(f"plan has no {key!r} object")
    return value


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _lat(value: Any, where: str) -> float:
    number = _number_or_none(value)
    if number is None or not -90 <= number <= 90:
        raise PlanFileError(
            f"{where}: latitude {value!r} is not within [-90, 90] (plans are [lat, lon])"
        )
    return number


def _lng(value: Any, where: str) -> float:
    number = _number_or_none(value)
    if number is None or not -180 <= number <= 180:
        raise PlanFileError(f"{where}: longitude {value!r} is not within [-180, 180]")
    return number
