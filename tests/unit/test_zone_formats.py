"""Restricted areas from ED-269 and GeoJSON documents (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dronecoop.airspace.geo import CircleOutline, PolygonOutline
from dronecoop.planning.errors import PlanFileError
from dronecoop.zones.formats import zones_from_ed269, zones_from_geojson
from dronecoop.zones.model import Restriction

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
END = START + timedelta(days=1)
SQUARE = [[127.02, 36.96], [127.03, 36.96], [127.03, 36.97], [127.02, 36.97], [127.02, 36.96]]


def ed269(*features: dict[str, Any]) -> dict[str, Any]:
    return {"title": "Pyeongtaek zones", "features": list(features)}


def feature(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "identifier": "RKSG-P1",
        "country": "KOR",
        "name": "Humphreys airfield",
        "type": "COMMON",
        "restriction": "PROHIBITED",
        "reason": ["AIR_TRAFFIC"],
        "applicability": [{"permanent": "YES"}],
        "geometry": [
            {
                "uomDimensions": "FT",
                "lowerLimit": 0,
                "lowerVerticalReference": "AGL",
                "upperLimit": 400,
                "upperVerticalReference": "AGL",
                "horizontalProjection": {"type": "Polygon", "coordinates": [SQUARE]},
            }
        ],
    }
    return base | extra


def test_an_ed269_zone_becomes_wgs84_volumes_over_the_window() -> None:
    zones, skipped = zones_from_ed269(
        ed269(feature()), start=START, end=END, ground_amsl_m=16.0, geoid_undulation_m=24.5
    )
    assert skipped == []
    [zone] = zones
    assert zone.name == "Humphreys airfield"
    assert zone.restriction is Restriction.PROHIBITED
    [volume] = zone.volumes
    assert isinstance(volume.outline, PolygonOutline)
    assert len(volume.outline.vertices) == 4  # the closing position dropped
    assert volume.outline.vertices[0].lat_deg == 36.96  # [lon, lat] read the right way round
    assert volume.altitude_lower_w84_m == pytest.approx(16.0 + 24.5)
    assert volume.altitude_upper_w84_m == pytest.approx(400 * 0.3048 + 16.0 + 24.5)
    assert (volume.time_start, volume.time_end) == (START, END)
    assert zone.source["identifier"] == "RKSG-P1"


def test_circles_timed_applicability_and_unrestricted_zones() -> None:
    circle = feature(
        name="Range 7",
        applicability=[
            {
                "permanent": "NO",
                "startDateTime": "2026-12-01T02:00:00Z",
                "endDateTime": "2026-12-01T04:00:00Z",
            },
            {
                "permanent": "NO",
                "startDateTime": "2026-12-03T02:00:00Z",
                "endDateTime": "2026-12-03T04:00:00Z",
            },
        ],
        geometry=[
            {
                "uomDimensions": "M",
                "lowerLimit": 50,
                "lowerVerticalReference": "WGS84",
                "upperLimit": 300,
                "upperVerticalReference": "AMSL",
                "horizontalProjection": {
                    "type": "Circle",
                    "center": [127.05, 36.95],
                    "radius": 800,
                },
            }
        ],
    )
    free = feature(name="Park", restriction="NO_RESTRICTION")
    zones, skipped = zones_from_ed269(ed269(circle, free), start=START, end=END)
    [zone] = zones
    [volume] = zone.volumes  # the second window is outside the publication window
    assert isinstance(volume.outline, CircleOutline)
    assert (volume.outline.center.lat_deg, volume.outline.radius_m) == (36.95, 800)
    assert (volume.altitude_lower_w84_m, volume.altitude_upper_w84_m) == (50, 300)
    assert volume.time_start == START + timedelta(hours=2)
    assert skipped == ["Park: NO_RESTRICTION (nothing to keep flights out of)"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"features": []}, 'no "features"'),
        (ed269(feature()), "ground elevation"),  # AGL without the ground's elevation
        (ed269(feature(restriction="MAYBE")), "restriction 'MAYBE'"),
        (ed269(feature(geometry=[])), "has no geometry"),
        (
            ed269(
                feature(
                    applicability=[
                        {
                            "startDateTime": "2027-01-01T00:00:00Z",
                            "endDateTime": "2027-01-02T00:00:00Z",
                        }
                    ]
                )
            ),
            "not applicable",
        ),
    ],
)
def test_a_bad_ed269_document_says_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(PlanFileError, match=message):
        zones_from_ed269(document, start=START, end=END)


def test_geojson_zones_with_properties_and_multipolygons() -> None:
    document = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Ammo depot", "upper_w84_m": 200},
                "geometry": {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]},
            }
        ],
    }
    [zone] = zones_from_geojson(document, start=START, end=END, lower_w84_m=0.0)
    assert zone.name == "Ammo depot"
    assert len(zone.volumes) == 2
    assert zone.volumes[0].altitude_upper_w84_m == 200
    assert zone.volumes[0].altitude_lower_w84_m == 0
    with pytest.raises(PlanFileError, match="Polygon or MultiPolygon"):
        zones_from_geojson({"type": "Point", "coordinates": [127, 36]}, start=START, end=END)
    with pytest.raises(PlanFileError, match="off the globe"):
        zones_from_geojson(
            {"type": "Polygon", "coordinates": [[[36.9, 127.0], [36.9, 127.1], [37.0, 127.1]]]},
            start=START,
            end=END,
        )
