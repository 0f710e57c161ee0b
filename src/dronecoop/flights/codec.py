"""Flights to and from plain JSON values (stored rows and API bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dronecoop.airspace.geo import CircleOutline, LatLng, PolygonOutline, Volume4D


def volume_json(volume: Volume4D) -> dict[str, Any]:
    outline = volume.outline
    shape: dict[str, Any] | None
    if isinstance(outline, PolygonOutline):
        shape = {"polygon": [[v.lat_deg, v.lng_deg] for v in outline.vertices]}
    elif isinstance(outline, CircleOutline):
        shape = {"circle": [outline.center.lat_deg, outline.center.lng_deg, outline.radius_m]}
    else:
        shape = None
    return {
        "outline": shape,
        "altitude_lower_w84_m": volume.altitude_lower_w84_m,
        "altitude_upper_w84_m": volume.altitude_upper_w84_m,
        "time_start": volume.time_start.isoformat() if volume.time_start else None,
        "time_end": volume.time_end.isoformat() if volume.time_end else None,
    }


def volume_from_json(raw: dict[str, Any]) -> Volume4D:
    shape = raw.get("outline")
    outline: PolygonOutline | CircleOutline | None = None
    if shape and "polygon" in shape:
        outline = PolygonOutline(tuple(LatLng(lat, lng) for lat, lng in shape["polygon"]))
    elif shape and "circle" in shape:
        lat, lng, radius = shape["circle"]
        outline = CircleOutline(LatLng(lat, lng), radius)
    return Volume4D(
        outline=outline,
        altitude_lower_w84_m=raw.get("altitude_lower_w84_m"),
        altitude_upper_w84_m=raw.get("altitude_upper_w84_m"),
        time_start=_time(raw.get("time_start")),
        time_end=_time(raw.get("time_end")),
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
