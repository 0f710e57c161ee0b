"""Zones from files (pure): EUROCAE ED-269 UAS geographical zones, and GeoJSON.

Everything becomes WGS-84 volumes, as the DSS wants them. ED-269 heights: ``M`` or ``FT``;
``WGS84`` is taken as is, ``AMSL`` + the geoid undulation (N), ``AGL`` + the ground
elevation (AMSL, a single value for the file: terrain is not known here) + N.
A permanent zone, or one without times, is published for the window the caller gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dronecoop.airspace.geo import CircleOutline, LatLng, PolygonOutline, Volume4D
from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.inputs import rfc3339
from dronecoop.zones.model import Restriction, ZoneDraft

FT = 0.3048


def zones_from_ed269(
    document: Any,
    *,
    start: datetime,
    end: datetime,
    ground_amsl_m: float | None = None,
    geoid_undulation_m: float = 0.0,
) -> tuple[list[ZoneDraft], list[str]]:
    """The zones of an ED-269 document and a note for each feature left out (and why)."""
    features = document.get("features") if isinstance(document, Mapping) else None
    if not isinstance(features, list) or not features:
        raise PlanFileError('ED-269: the document has no "features" list')
    zones, skipped = [], []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, Mapping):
            raise PlanFileError(f"ED-269 {where} is not an object")
        name = str(feature.get("name") or feature.get("identifier") or where)
        try:
            restriction = Restriction(str(feature.get("restriction", "")))
        except ValueError as exc:
            raise PlanFileError(
                f"ED-269 {where} ({name}): restriction {feature.get('restriction')!r} is not "
                f"one of {', '.join(r.value for r in Restriction)}"
            ) from exc
        if restriction is Restriction.NO_RESTRICTION:
            skipped.append(f"{name}: NO_RESTRICTION (nothing to keep flights out of)")
            continue
        windows = _windows(feature.get("applicability"), start, end, f"{where}.applicability")
        geometry = feature.get("geometry")
        if not isinstance(geometry, list) or not geometry:
            raise PlanFileError(f"ED-269 {where} ({name}) has no geometry")
        volumes = []
        for j, part in enumerate(geometry):
            here = f"{where}.geometry[{j}]"
            outline = _projection(
                part.get("horizontalProjection") if isinstance(part, Mapping) else None, here
            )
            lower = _height(part, "lower", here, ground_amsl_m, geoid_undulation_m)
            upper = _height(part, "upper", here, ground_amsl_m, geoid_undulation_m)
            if lower is not None and upper is not None and lower > upper:
                raise PlanFileError(f"ED-269 {here}: lower limit above the upper limit")
            volumes += [Volume4D(outline, lower, upper, a, b) for a, b in windows]
        zones.append(
            ZoneDraft(
                name=name,
                restriction=restriction,
                volumes=tuple(volumes),
                source={
                    "format": "ED-269",
                    "identifier": feature.get("identifier"),
                    "country": feature.get("country"),
                    "reason": feature.get("reason"),
                    "message": feature.get("message"),
                },
            )
        )
    return zones, skipped


def zones_from_geojson(
    document: Any,
    *,
    start: datetime,
    end: datetime,
    lower_w84_m: float | None = None,
    upper_w84_m: float | None = None,
) -> list[ZoneDraft]:
    """Polygon / MultiPolygon features (or one bare geometry) as zones; each feature's
    properties may give ``name``, ``restriction``, ``lower_w84_m`` and ``upper_w84_m``."""
    if not isinstance(document, Mapping):
        raise PlanFileError("GeoJSON zones: the document is not an object")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
    elif kind == "Feature":
        features = [document]
    else:
        features = [{"type": "Feature", "geometry": document, "properties": {}}]
    if not isinstance(features, list) or not features:
        raise PlanFileError("GeoJSON zones: no features")
    zones = []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, Mapping):
            raise PlanFileError(f"GeoJSON {where} is not an object")
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            raise PlanFileError(f"GeoJSON {where}.properties is not an object")
        geometry = feature.get("geometry")
        if not isinstance(geometry, Mapping):
            raise PlanFileError(f"GeoJSON {where} has no geometry")
        if geometry.get("type") == "Polygon":
            polygons = [geometry.get("coordinates")]
        elif geometry.get("type") == "MultiPolygon":
            polygons = geometry.get("coordinates") or []
        else:
            raise PlanFileError(
                f"GeoJSON {where}: a zone is a Polygon or MultiPolygon, "
                f"not {geometry.get('type')!r}"
            )
        lower = _optional_number(props, "lower_w84_m", lower_w84_m, where)
        upper = _optional_number(props, "upper_w84_m", upper_w84_m, where)
        try:
            restriction = Restriction(str(props.get("restriction", Restriction.PROHIBITED.value)))
        except ValueError as exc:
            raise PlanFileError(f"GeoJSON {where}: unknown restriction") from exc
        volumes = tuple(
            Volume4D(_ring(p, f"{where}.geometry"), lower, upper, start, end) for p in polygons
        )
        zones.append(
            ZoneDraft(
                name=str(props.get("name") or where),
                restriction=restriction,
                volumes=volumes,
                source={"format": "GeoJSON"},
            )
        )
    return zones


def _windows(
    applicability: Any, start: datetime, end: datetime, where: str
) -> list[tuple[datetime, datetime]]:
    if not applicability:
        return [(start, end)]
    if not isinstance(applicability, list):
        raise PlanFileError(f"ED-269 {where} must be a list")
    windows = []
    for k, entry in enumerate(applicability):
        if not isinstance(entry, Mapping):
            raise PlanFileError(f"ED-269 {where}[{k}] is not an object")
        if str(entry.get("permanent", "")).upper() == "YES":
            windows.append((start, end))
            continue
        a = _time(entry.get("startDateTime"), f"{where}[{k}].startDateTime")
        b = _time(entry.get("endDateTime"), f"{where}[{k}].endDateTime")
        if b <= a:
            raise PlanFileError(f"ED-269 {where}[{k}]: ends before it starts")
        if b > start and a < end:  # only what overlaps the publication window
            windows.append((max(a, start), min(b, end)))
    if not windows:
        raise PlanFileError(f"ED-269 {where}: not applicable between {start} and {end}")
    return windows


def _time(value: Any, where: str) -> datetime:
    try:
        return rfc3339(value, where)
    except PlanFileError as exc:
        raise PlanFileError(f"ED-269 {exc}") from exc


def _projection(value: Any, where: str) -> PolygonOutline | CircleOutline:
    if not isinstance(value, Mapping):
        raise PlanFileError(f"ED-269 {where} has no horizontalProjection")
    kind = value.get("type")
    if kind == "Polygon":
        return _ring(value.get("coordinates"), f"{where}.horizontalProjection")
    if kind == "Circle":
        center: Any = value.get("center")
        radius: Any = value.get("radius")
        if not _pair(center) or not _finite(radius) or radius <= 0:
            raise PlanFileError(f"ED-269 {where}: a Circle needs center [lon, lat] and radius")
        return CircleOutline(LatLng(float(center[1]), float(center[0])), float(radius))
    raise PlanFileError(f"ED-269 {where}: projection {kind!r} is not Polygon or Circle")


def _ring(coordinates: Any, where: str) -> PolygonOutline:
    if not isinstance(coordinates, list) or not coordinates or not isinstance(coordinates[0], list):
        raise PlanFileError(f"{where}: polygon coordinates must be [[[lon, lat], ...]]")
    ring = coordinates[0]
    if not all(_pair(p) for p in ring):
        raise PlanFileError(f"{where}: every position must be [lon, lat]")
    points = [LatLng(float(p[1]), float(p[0])) for p in ring]
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    if len(points) < 3:
        raise PlanFileError(f"{where}: a polygon needs at least three positions")
    for p in points:
        if not (-90 <= p.lat_deg <= 90 and -180 <= p.lng_deg <= 180):
            raise PlanFileError(f"{where}: position {p} is off the globe (GeoJSON is [lon, lat])")
    return PolygonOutline(tuple(points))


def _height(
    part: Mapping[str, Any], which: str, where: str, ground: float | None, undulation: float
) -> float | None:
    value = part.get(f"{which}Limit")
    if value is None:
        return None
    if not _finite(value):
        raise PlanFileError(f"ED-269 {where}.{which}Limit must be a number")
    unit = str(part.get("uomDimensions", "M")).upper()
    if unit not in ("M", "FT"):
        raise PlanFileError(f"ED-269 {where}.uomDimensions must be M or FT")
    metres = float(value) * (FT if unit == "FT" else 1.0)
    reference = str(part.get(f"{which}VerticalReference", "AMSL")).upper()
    if reference == "WGS84":
        return metres
    if reference == "AMSL":
        return metres + undulation
    if reference == "AGL":
        if ground is None:
            raise PlanFileError(
                f"ED-269 {where}: {which} limit is above ground (AGL): give the ground "
                "elevation (ground_amsl_m) to place it"
            )
        return metres + ground + undulation
    raise PlanFileError(f"ED-269 {where}.{which}VerticalReference must be AGL, AMSL or WGS84")


def _optional_number(
    props: Mapping[str, Any], name: str, default: float | None, where: str
) -> float | None:
    value = props.get(name, default)
    if value is not None and not _finite(value):
        raise PlanFileError(f"GeoJSON {where}.properties.{name} must be a number")
    return None if value is None else float(value)


def _pair(value: Any) -> bool:
    return isinstance(value, Sequence) and len(value) >= 2 and all(_finite(v) for v in value[:2])


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
