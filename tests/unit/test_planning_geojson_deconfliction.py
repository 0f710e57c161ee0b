"""Missions from GeoJSON and waypoint lists; conflicts found, described, and decided by
the F3548-21 priority rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from dronecoop.airspace.geo import CircleOutline, LatLng, PolygonOutline, Volume4D
from dronecoop.planning.deconfliction import Operation, PriorityRules, decide, find_conflicts
from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.geojson import (
    mission_from_geojson,
    mission_from_waypoints,
    mission_to_geojson,
)
from dronecoop.planning.mission import AltitudeReference
from dronecoop.planning.qgc import NAV_TAKEOFF, NAV_WAYPOINT, read_plan, write_plan
from tests.strategies import volumes as volumes4d

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ROUTE = {
    "type": "Feature",
    "geometry": {
        "type": "LineString",
        "coordinates": [[127.0311, 36.9628], [127.0400, 36.9700, 90.0], [127.0450, 36.9650]],
    },
    "properties": {"name": "Humphreys east"},
}


def test_a_geojson_route_is_flown_in_order_with_longitude_first() -> None:
    m = mission_from_geojson(ROUTE, altitude_m=60.0)
    assert [(p.lat_deg, p.lng_deg, p.altitude_m) for p in m.positions] == [
        (36.9628, 127.0311, 60.0),
        (36.9700, 127.0400, 90.0),
        (36.9650, 127.0450, 60.0),
    ]
    assert [p.command for p in m.positions] == [NAV_TAKEOFF, NAV_WAYPOINT, NAV_WAYPOINT]
    assert {p.reference for p in m.positions} == {AltitudeReference.HOME}


def test_a_geojson_area_is_flown_round_and_a_collection_of_one_feature_is_accepted() -> None:
    ring = [[127.03, 36.96], [127.04, 36.96], [127.04, 36.97], [127.03, 36.96]]
    area = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}],
    }
    m = mission_from_geojson(area, altitude_m=100.0, reference=AltitudeReference.AMSL)
    assert len(m.positions) == 4
    assert m.positions[0].lat_deg == m.positions[-1].lat_deg
    [survey] = m.surveys  # the area is the survey: its volumes may be the polygon itself
    assert (survey.first, survey.last) == (0, 3)
    assert survey.polygon[1] == (36.96, 127.04)


def test_geojson_out_and_back_and_through_a_plan_file() -> None:
    m = mission_from_geojson(ROUTE, altitude_m=60.0, home=(36.9628, 127.0311, 16.0))
    feature = mission_to_geojson(m)
    again = mission_from_geojson(feature, altitude_m=0.0, home=m.home)
    assert [(p.lat_deg, p.lng_deg, p.altitude_m) for p in again.positions] == [
        (p.lat_deg, p.lng_deg, p.altitude_m) for p in m.positions
    ]
    assert read_plan(write_plan(m)) == m


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"type": "Point", "coordinates": [127.0, 36.9]}, "LineString"),
        ({"type": "LineString", "coordinates": [[127.0, 36.9]]}, "at least two"),
        (
            {"type": "LineString", "coordinates": [[36.9, 127.0], [36.8, 127.1]]},
            "longitude, latitude",
        ),
        ({"type": "LineString", "coordinates": [[127.0, "x"], [127.1, 36.8]]}, "position 0"),
        ({"type": "FeatureCollection", "features": []}, "exactly one feature"),
        ([], "must be an object"),
    ],
)
def test_bad_geojson_is_refused_with_the_reason(document: object, message: str) -> None:
    with pytest.raises(PlanFileError, match=message):
        mission_from_geojson(document, altitude_m=50.0)


def test_a_waypoint_list_needs_real_positions() -> None:
    assert len(mission_from_waypoints([(36.96, 127.03, 50.0)]).positions) == 1
    with pytest.raises(PlanFileError, match="waypoint 1"):
        mission_from_waypoints([(36.96, 127.03, 50.0), (127.03, 36.96, 50.0)])


def square(lat: float, lng: float, d: float = 0.002) -> PolygonOutline:
    return PolygonOutline(
        (LatLng(lat, lng), LatLng(lat + d, lng), LatLng(lat + d, lng + d), LatLng(lat, lng + d))
    )


def vol(
    outline: PolygonOutline | CircleOutline, minutes: tuple[int, int], alt: tuple[float, float]
) -> Volume4D:
    return Volume4D(
        outline,
        alt[0],
        alt[1],
        T0 + timedelta(minutes=minutes[0]),
        T0 + timedelta(minutes=minutes[1]),
    )


OURS = [vol(square(36.96, 127.03), (0, 10), (50, 120))]


def test_a_conflict_says_whose_where_when_and_how_high() -> None:
    theirs = Operation("us-7", "us-army", 0, (vol(square(36.961, 127.031), (5, 20), (100, 200)),))
    (conflict,) = find_conflicts(OURS, [theirs])
    assert (conflict.start, conflict.end) == (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))
    assert (conflict.altitude_lower_w84_m, conflict.altitude_upper_w84_m) == (100, 120)
    assert 36.961 <= conflict.near.lat_deg <= 36.962
    assert 127.031 <= conflict.near.lng_deg <= 127.032
    text = conflict.describe()
    assert "us-army's flight us-7 (priority 0)" in text
    assert "09:05 to 09:10 UTC" in text
    assert "100 to 120 m" in text
    assert "36.96" in text
    assert "N" in text


def test_apart_in_time_height_or_place_is_no_conflict() -> None:
    later = Operation("a", "us-army", 0, (vol(square(36.96, 127.03), (10, 20), (50, 120)),))
    higher = Operation("b", "us-army", 0, (vol(square(36.96, 127.03), (0, 10), (121, 200)),))
    away = Operation("c", "us-army", 0, (vol(square(36.99, 127.03), (0, 10), (50, 120)),))
    assert find_conflicts(OURS, [later, higher, away]) == []


def test_priority_rules_of_f3548() -> None:
    def with_priority(p: int, kind: str = "flight") -> list:
        return find_conflicts(OURS, [Operation("x", "us-army", p, (OURS[0],), kind)])

    rules = PriorityRules(conflicts_allowed_at=frozenset({0}))
    assert not decide(5, with_priority(6), rules).accepted  # higher priority blocks
    assert not decide(5, with_priority(5), rules).accepted  # equal, not allowed at 5
    assert decide(0, with_priority(0), rules).accepted  # equal, allowed at 0
    lower = decide(5, with_priority(4), rules)
    assert lower.accepted
    assert len(lower.tolerated) == 1
    assert not decide(9, with_priority(0, "constraint"), rules).accepted  # constraints block
    assert "constraint x" in with_priority(0, "constraint")[0].describe()


@given(a=volumes4d(), b=volumes4d())
def test_conflicts_are_symmetric(a: Volume4D, b: Volume4D) -> None:
    there = bool(find_conflicts([a], [Operation("b", "p", 0, (b,))]))
    back = bool(find_conflicts([b], [Operation("a", "p", 0, (a,))]))
    assert there == back
