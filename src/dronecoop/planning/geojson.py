"""Missions from and to GeoJSON, and from a plain list of waypoints.

GeoJSON positions are ``[longitude, latitude(, altitude)]`` (RFC 7946 §3.1.1) — the other
way round from a QGroundControl plan. A LineString is a route flown in order; a Polygon is
an area (its outline is flown round, closing vertex included, and it is the mission's
survey area: its volumes may be the polygon itself, see ``planning.volumes``). Altitudes
missing from the coordinates take ``altitude_m``; ``reference`` says what they are
measured from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.mission import AltitudeReference, Mission, Position, SurveyArea
from dronecoop.planning.qgc import NAV_TAKEOFF, NAV_WAYPOINT


def mission_from_geojson(
    document: Any,
    *,
    altitude_m: float,
    reference: AltitudeReference = AltitudeReference.HOME,
    home: tuple[float, float, float | None] | None = None,
) -> Mission:
    """A mission flying a GeoJSON LineString or Polygon (bare, in a Feature or a one-feature
    FeatureCollection); home defaults to the first position."""
    geometry = _geometry(document)
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "LineString":
        ring = coordinates
    elif kind == "Polygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise PlanFileError("GeoJSON Polygon has no rings")
        ring = coordinates[0]
    else:
        raise PlanFileError(f"GeoJSON {kind!r}: give a LineString (route) or a Polygon (area)")
    if not isinstance(ring, list) or len(ring) < 2:
        raise PlanFileError("GeoJSON route needs at least two positions")
    points = [_position(p, i, altitude_m) for i, p in enumerate(ring)]
    mission = mission_from_waypoints(points, reference=reference, home=home)
    if kind == "Polygon" and len(points) >= 3:
        area = SurveyArea(tuple((lat, lng) for lat, lng, _ in points), 0, len(points) - 1)
        mission = replace(mission, surveys=(area,))
    return mission


def mission_from_waypoints(
    waypoints: Sequence[tuple[float, float, float]],
    *,
    reference: AltitudeReference = AltitudeReference.HOME,
    home: tuple[float, float, float | None] | None = None,
    returns_home: bool = False,
) -> Mission:
    """A mission through ``(lat, lng, altitude_m)`` waypoints, taking off at the first."""
    if not waypoints:
        raise PlanFileError("a mission needs at least one waypoint")
    for i, (lat, lng, alt) in enumerate(waypoints):
        if not (-90 <= lat <= 90 and -180 <= lng <= 180 and math.isfinite(alt)):
            raise PlanFileError(f"waypoint {i}: ({lat}, {lng}, {alt}) is not a position")
    first = waypoints[0]
    positions = [Position(first[0], first[1], first[2], reference, NAV_TAKEOFF)]
    positions += [
        Position(lat, lng, alt, reference, NAV_WAYPOINT) for lat, lng, alt in waypoints[1:]
    ]
    return Mission(
        home=home or (first[0], first[1], None),
        positions=tuple(positions),
        returns_home=returns_home,
    )


def mission_to_geojson(mission: Mission) -> dict[str, Any]:
    """The mission's route as a GeoJSON Feature (``[lng, lat, alt]``), fences as properties."""
    return {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[p.lng_deg, p.lat_deg, p.altitude_m] for p in mission.positions],
        },
        "properties": {
            "altitude_references": sorted({p.reference.value for p in mission.positions}),
            "home": [mission.home[1], mission.home[0], mission.home[2]],
            "returns_home": mission.returns_home,
            "geofence_polygons": [
                {"inclusion": f.inclusion, "coordinates": [[lng, lat] for lat, lng in f.vertices]}
                for f in mission.geofence.polygons
            ],
            "rally_points": [[lng, lat, alt] for lat, lng, alt in mission.rally_points],
        },
    }


def _geometry(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise PlanFileError("GeoJSON must be an object")
    if document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise PlanFileError("GeoJSON FeatureCollection: give exactly one feature")
        document = features[0]
    if isinstance(document, dict) and document.get("type") == "Feature":
        document = document.get("geometry")
    if not isinstance(document, dict):
        raise PlanFileError("GeoJSON feature has no geometry")
    return document


def _position(raw: Any, index: int, default_altitude_m: float) -> tuple[float, float, float]:
    if not isinstance(raw, list) or len(raw) < 2 or not _numbers(raw):
        raise PlanFileError(f"GeoJSON position {index} must be [longitude, latitude(, altitude)]")
    lng, lat = float(raw[0]), float(raw[1])
    if not -90 <= lat <= 90:
        raise PlanFileError(
            f"GeoJSON position {index}: latitude {lat} out of range "
            "(GeoJSON is [longitude, latitude])"
        )
    altitude = float(raw[2]) if len(raw) > 2 else default_altitude_m
    return lat, lng, altitude


def _numbers(values: Iterable[Any]) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
