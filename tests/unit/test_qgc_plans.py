"""QGroundControl plans: real files read faithfully, written back identically, bad ones
refused with the reason."""

from __future__ import annotations

import orjson
import pytest

from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.mission import (
    AltitudeReference,
    FenceCircle,
    FencePolygon,
    Geofence,
    Mission,
    Position,
)
from dronecoop.planning.qgc import NAV_TAKEOFF, NAV_WAYPOINT, read_plan, write_plan
from tests.conftest import shared_file

READABLE = [
    "ardupilot_fence_circle_polygon_rally_canberra.plan",
    "px4_fixedwing_land_start_zurich.plan",
    "px4_fixedwing_survey_v4_quebec_longrange.plan",
    "px4_geofence_only_manassas.plan",
    "px4_legacy_coordinate_format_redmond.plan",
    "px4_rally_points_zurich.plan",
    "px4_survey_corridor_zurich.plan",
    "px4_survey_small_zurich.plan",
    "px4_waypoints_photo_zurich.plan",
]


def plan(name: str) -> bytes:
    return shared_file(f"data/plans/{name}").read_bytes()


@pytest.mark.parametrize("name", READABLE)
def test_a_real_plan_is_written_back_exactly_as_qgroundcontrol_wrote_it(name: str) -> None:
    original = plan(name)
    mission = read_plan(original)
    assert orjson.loads(write_plan(mission)) == orjson.loads(original)
    assert read_plan(write_plan(mission)) == mission


def test_an_ardupilot_plan_keeps_its_fences_rally_points_and_takes_off_at_home() -> None:
    m = read_plan(plan("ardupilot_fence_circle_polygon_rally_canberra.plan"))
    takeoff = m.positions[0]
    assert takeoff.command == NAV_TAKEOFF
    assert (takeoff.lat_deg, takeoff.lng_deg) == m.home[:2]  # the file says 0, 0
    assert len(m.positions) == 9
    assert m.returns_home
    (circle,) = m.geofence.circles
    assert circle.inclusion
    assert circle.radius_m == pytest.approx(463.7, abs=0.1)
    (polygon,) = m.geofence.polygons
    assert len(polygon.vertices) == 4
    assert m.geofence.breach_return is not None
    assert len(m.rally_points) == 3
    assert all(-36 < lat < -35 and 149 < lng < 150 for lat, lng, _ in m.rally_points)


def test_complex_items_fly_the_mavlink_items_they_store() -> None:
    m = read_plan(plan("px4_fixedwing_survey_v4_quebec_longrange.plan"))
    assert len(m.positions) == 1 + 640 + 2  # takeoff, the survey's waypoints, two more
    survey = m.positions[1:641]
    assert all(p.command == NAV_WAYPOINT for p in survey)
    assert all(51.6 < p.lat_deg < 51.8 and -75.7 < p.lng_deg < -75.5 for p in survey)


def test_the_oldest_layout_and_fence_only_plans_are_read() -> None:
    legacy = read_plan(plan("px4_legacy_coordinate_format_redmond.plan"))
    assert len(legacy.positions) == 4
    assert all(47.6 < p.lat_deg < 47.7 for p in legacy.positions)
    fence_only = read_plan(plan("px4_geofence_only_manassas.plan"))
    assert fence_only.positions == ()
    assert sorted(p.inclusion for p in fence_only.geofence.polygons) == [False, True]


def test_a_plan_without_home_altitude_says_so_by_none() -> None:
    m = read_plan(plan("px4_rally_points_zurich.plan"))
    assert m.home[2] is None
    assert len(m.rally_points) == 2
    assert {p.reference for p in m.positions} == {AltitudeReference.HOME}


def test_a_structure_scan_without_generated_items_is_refused_with_what_to_do() -> None:
    with pytest.raises(PlanFileError, match="StructureScan stores no generated MAVLink items"):
        read_plan(plan("px4_structure_scan_zurich.plan"))


def test_a_mission_made_here_round_trips_through_a_plan_file() -> None:
    mission = Mission(
        home=(36.9628, 127.0311, 16.0),
        positions=(
            Position(36.9628, 127.0311, 30.0, AltitudeReference.HOME, NAV_TAKEOFF),
            Position(36.9700, 127.0400, 80.0, AltitudeReference.HOME, NAV_WAYPOINT),
            Position(36.9750, 127.0350, 120.0, AltitudeReference.AMSL, NAV_WAYPOINT),
        ),
        geofence=Geofence(
            polygons=(FencePolygon(((36.95, 127.02), (36.98, 127.02), (36.98, 127.05)), True),),
            circles=(FenceCircle((36.97, 127.04), 150.0, False),),
        ),
        rally_points=((36.96, 127.03, 40.0),),
        cruise_speed_mps=12.0,
        hover_speed_mps=5.0,
        returns_home=True,
    )
    written = write_plan(mission)
    assert orjson.loads(written)["fileType"] == "Plan"
    assert read_plan(written) == mission


def _doc(**mission: object) -> bytes:
    base: dict[str, object] = {"plannedHomePosition": [36.96, 127.03, 20], "items": []}
    return orjson.dumps({"fileType": "Plan", "mission": base | mission})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not JSON"),
        (orjson.dumps({"fileType": "KML"}), '"fileType" is not "Plan"'),
        (_doc(plannedHomePosition=[127.03, 36.96, 20]), r"\[lat, lon\]"),
        (
            _doc(items=[{"type": "SimpleItem", "command": 16, "frame": 3, "params": [1, 2]}]),
            "7 values",
        ),
        (_doc(items=[{"type": "Fancy"}]), "unknown item type"),
        (
            _doc(items=[{"type": "SimpleItem", "command": 16, "frame": 1, "params": [0] * 7}]),
            "no global altitude",
        ),
        (
            _doc(
                items=[
                    {
                        "type": "SimpleItem",
                        "command": 16,
                        "frame": 3,
                        "params": [0, 0, 0, 0, 36.9, 127.0, None],
                    }
                ]
            ),
            "altitude is missing",
        ),
    ],
)
def test_a_bad_plan_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(PlanFileError, match=message):
        read_plan(data)
