"""A mission's 4D volumes hold the aircraft at every moment of its flight."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from dronecoop.airspace.geo import PolygonOutline, Volume4D
from dronecoop.planning.errors import PlanningError
from dronecoop.planning.mission import AltitudeReference, Mission, Position, SurveyArea
from dronecoop.planning.qgc import NAV_WAYPOINT, read_plan
from dronecoop.planning.volumes import FlightPoint, LocalFrame, Margins, trajectory, volumes
from tests.conftest import shared_file
from tests.strategies import HUMPHREYS

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
MARGINS = Margins(lateral_m=20.0, vertical_m=15.0, time_s=30.0, max_volume_s=120.0)


def holds(vols: list[Volume4D], frame: LocalFrame, p: FlightPoint) -> bool:
    """Whether some volume contains ``p`` where and when it is."""
    here = Point(frame.to_local(p.lat_deg, p.lng_deg))
    for v in vols:
        assert isinstance(v.outline, PolygonOutline)
        assert v.time_start is not None
        assert v.time_end is not None
        if not v.time_start <= p.at < v.time_end:
            continue
        if not v.altitude_lower_w84_m <= p.altitude_w84_m <= v.altitude_upper_w84_m:  # type: ignore[operator]
            continue
        shape = Polygon([frame.to_local(c.lat_deg, c.lng_deg) for c in v.outline.vertices])
        if shape.buffer(0.01).contains(here):
            return True
    return False


def along(points: list[FlightPoint], frame: LocalFrame, steps: int = 4) -> list[FlightPoint]:
    """The trajectory's points and points between them, where the aircraft is then."""
    out = []
    for a, b in itertools.pairwise(points):
        ax, ay = frame.to_local(a.lat_deg, a.lng_deg)
        bx, by = frame.to_local(b.lat_deg, b.lng_deg)
        for k in range(steps):
            f = k / steps
            lat, lng = frame.to_latlng(ax + f * (bx - ax), ay + f * (by - ay))
            alt = a.altitude_w84_m + f * (b.altitude_w84_m - a.altitude_w84_m)
            out.append(FlightPoint(lat, lng, alt, a.at + (b.at - a.at) * f))
    return [*out, points[-1]]


waypoints = st.lists(
    st.tuples(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02), st.floats(20.0, 150.0)),
    min_size=1,
    max_size=8,
)


@given(route=waypoints, speed=st.floats(3.0, 25.0), rtl=st.booleans())
@example(  # out to a waypoint and straight back: GEOS's buffer of that line lost its end cap
    route=[
        (0.0, 0.001, 20.0),
        (0.0, 0.0, 20.0),
        (0.0, -0.0047199831338116775, 20.0),
        (0.0, -0.00390625, 20.0),
    ],
    speed=9.0,
    rtl=True,
)
@settings(max_examples=60, deadline=None)
def test_every_planned_position_lies_inside_a_volume_at_its_time(
    route: list[tuple[float, float, float]], speed: float, rtl: bool
) -> None:
    mission = Mission(
        home=(HUMPHREYS.lat_deg, HUMPHREYS.lng_deg, 16.0),
        positions=tuple(
            Position(
                HUMPHREYS.lat_deg + dlat,
                HUMPHREYS.lng_deg + dlng,
                alt,
                AltitudeReference.HOME,
                NAV_WAYPOINT,
            )
            for dlat, dlng, alt in route
        ),
        returns_home=rtl,
    )
    points = trajectory(mission, start=START, ground_speed_mps=speed, geoid_undulation_m=25.0)
    vols = volumes(points, MARGINS)
    frame = LocalFrame(points[0].lat_deg, points[0].lng_deg)
    for p in along(points, frame):
        assert holds(vols, frame, p), p
    assert all(
        (v.time_end - v.time_start).total_seconds() <= MARGINS.max_volume_s + 2 * MARGINS.time_s  # type: ignore[operator]
        for v in vols
    )


def test_altitudes_are_turned_into_metres_above_the_ellipsoid() -> None:
    mission = Mission(
        home=(HUMPHREYS.lat_deg, HUMPHREYS.lng_deg, 16.0),
        positions=(
            Position(36.97, 127.04, 50.0, AltitudeReference.HOME, NAV_WAYPOINT),
            Position(36.98, 127.04, 200.0, AltitudeReference.AMSL, NAV_WAYPOINT),
        ),
    )
    points = trajectory(mission, start=START, ground_speed_mps=10.0, geoid_undulation_m=25.0)
    assert [p.altitude_w84_m for p in points] == [16.0 + 25.0, 66.0 + 25.0, 225.0]
    assert points[0].at == START
    frame = LocalFrame(HUMPHREYS.lat_deg, HUMPHREYS.lng_deg)
    x, y = frame.to_local(36.97, 127.04)
    climb_and_cruise_m = math.hypot(x, y, 50.0)  # 3-D, at a constant 10 m/s
    assert (points[1].at - START).total_seconds() == pytest.approx(climb_and_cruise_m / 10.0)


def test_a_mission_flown_longer_needs_more_volumes_and_no_more_than_it_must() -> None:
    leg = [
        Position(
            HUMPHREYS.lat_deg + 0.01 * i,
            HUMPHREYS.lng_deg,
            60.0,
            AltitudeReference.HOME,
            NAV_WAYPOINT,
        )
        for i in range(1, 11)
    ]
    mission = Mission(home=(HUMPHREYS.lat_deg, HUMPHREYS.lng_deg, 16.0), positions=tuple(leg))
    points = trajectory(mission, start=START, ground_speed_mps=10.0)
    flight_s = (points[-1].at - points[0].at).total_seconds()  # ~1,100 s for 11 km
    vols = volumes(points, MARGINS)
    assert flight_s / MARGINS.max_volume_s <= len(vols) <= 2 * flight_s / MARGINS.max_volume_s + 1


@pytest.mark.parametrize(
    "name",
    [
        "ardupilot_fence_circle_polygon_rally_canberra.plan",
        "px4_fixedwing_land_start_zurich.plan",
        "px4_fixedwing_survey_v4_quebec_longrange.plan",
        "px4_legacy_coordinate_format_redmond.plan",
        "px4_rally_points_zurich.plan",
        "px4_survey_corridor_zurich.plan",
        "px4_survey_small_zurich.plan",
        "px4_waypoints_photo_zurich.plan",
    ],
)
def test_every_position_of_a_real_plan_is_inside_its_volumes(name: str) -> None:
    mission = read_plan(shared_file(f"data/plans/{name}").read_bytes())
    speed = mission.cruise_speed_mps or 15.0
    points = trajectory(
        mission, start=START, ground_speed_mps=speed, home_altitude_amsl_m=mission.home[2] or 0.0
    )
    vols = volumes(points, MARGINS, mission.surveys)
    frame = LocalFrame(points[0].lat_deg, points[0].lng_deg)
    assert all(holds(vols, frame, p) for p in along(points, frame, steps=2))
    assert all(len(v.outline.vertices) <= 200 for v in vols)  # type: ignore[union-attr]


def test_a_mission_without_positions_or_speed_is_refused() -> None:
    empty = Mission(home=(36.9, 127.0, 10.0), positions=())
    with pytest.raises(PlanningError, match="no positions"):
        trajectory(empty, start=START, ground_speed_mps=10.0)
    one = Mission(
        home=(36.9, 127.0, None),
        positions=(Position(36.91, 127.0, 50.0, AltitudeReference.HOME, NAV_WAYPOINT),),
    )
    with pytest.raises(PlanningError, match="home altitude"):
        trajectory(one, start=START, ground_speed_mps=10.0)
    with pytest.raises(PlanningError, match="ground speed"):
        trajectory(one, start=START, ground_speed_mps=0.0, home_altitude_amsl_m=10.0)


def test_a_survey_is_one_volume_over_its_polygon_for_its_whole_sweep() -> None:
    mission = read_plan(shared_file("data/plans/px4_survey_small_zurich.plan").read_bytes())
    [survey] = mission.surveys
    assert len(survey.polygon) == 4
    assert 0 <= survey.first < survey.last < len(mission.positions)
    points = trajectory(
        mission, start=START, ground_speed_mps=1.0, home_altitude_amsl_m=mission.home[2] or 0.0
    )  # slow: the sweep takes many path volumes
    with_area = volumes(points, MARGINS, mission.surveys)
    as_path = volumes(points, MARGINS)
    assert len(with_area) < len(as_path)
    frame = LocalFrame(points[0].lat_deg, points[0].lng_deg)
    sweep = [
        v
        for v in with_area
        if v.time_start <= points[survey.first + 1].at  # type: ignore[operator]
        and v.time_end >= points[survey.last + 1].at  # type: ignore[operator]
    ]
    [area] = sweep  # one volume spans the whole sweep
    outline = Polygon([frame.to_local(c.lat_deg, c.lng_deg) for c in area.outline.vertices])  # type: ignore[union-attr]
    for lat, lng in survey.polygon:  # and holds the whole polygon
        assert outline.contains(Point(frame.to_local(lat, lng)))
    fast = trajectory(
        mission, start=START, ground_speed_mps=15.0, home_altitude_amsl_m=mission.home[2] or 0.0
    )  # fast: one path volume holds it all, fewer than path + area
    assert len(volumes(fast, MARGINS, mission.surveys)) == len(volumes(fast, MARGINS)) == 1


@given(
    width=st.floats(100.0, 800.0),
    height=st.floats(100.0, 800.0),
    lines=st.integers(2, 8),
    overshoot=st.floats(0.0, 40.0),
    before=st.booleans(),
    after=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_every_moment_of_a_survey_mission_is_inside_a_volume(
    width: float, height: float, lines: int, overshoot: float, before: bool, after: bool
) -> None:
    """A lawn-mower sweep (turns overshooting the polygon) with legs before and after."""
    frame = LocalFrame(HUMPHREYS.lat_deg, HUMPHREYS.lng_deg)
    x0, y0 = 300.0, 200.0
    corners = [(x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height)]
    polygon = tuple(frame.to_latlng(x, y) for x, y in corners)
    sweep = []
    for k in range(lines):
        y = y0 + height * k / (lines - 1)
        xs = (x0 - overshoot, x0 + width + overshoot)
        for x in xs if k % 2 == 0 else reversed(xs):
            sweep.append(frame.to_latlng(x, y))
    route = ([frame.to_latlng(100.0, 100.0)] if before else []) + sweep
    route += [frame.to_latlng(-200.0, 500.0)] if after else []
    first = 1 if before else 0
    mission = Mission(
        home=(HUMPHREYS.lat_deg, HUMPHREYS.lng_deg, 16.0),
        positions=tuple(
            Position(lat, lng, 80.0, AltitudeReference.HOME, NAV_WAYPOINT) for lat, lng in route
        ),
        surveys=(SurveyArea(polygon, first, first + len(sweep) - 1),),
    )
    points = trajectory(mission, start=START, ground_speed_mps=8.0)
    vols = volumes(points, MARGINS, mission.surveys)
    for p in along(points, frame):
        assert holds(vols, frame, p), p
