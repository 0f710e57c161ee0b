"""4D volume geometry: intersection, overlap of bounds, envelopes, outline validation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronecoop.airspace import geo
from dronecoop.airspace.errors import BadGeometry
from tests import strategies as s

LatLng = geo.LatLng
T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
NEVER = datetime.min.replace(tzinfo=UTC)
FOREVER = datetime.max.replace(tzinfo=UTC)

properties = settings(max_examples=100, deadline=None)


def square(centre: LatLng = s.HUMPHREYS, half_deg: float = 0.005) -> geo.PolygonOutline:
    lat, lng = centre.lat_deg, centre.lng_deg
    return geo.PolygonOutline(
        (
            LatLng(lat - half_deg, lng - half_deg),
            LatLng(lat - half_deg, lng + half_deg),
            LatLng(lat + half_deg, lng + half_deg),
            LatLng(lat + half_deg, lng - half_deg),
        )
    )


def volume(
    outline: geo.Outline | None = None,
    alt: tuple[float | None, float | None] = (0.0, 120.0),
    time: tuple[datetime | None, datetime | None] = (T0, T0 + timedelta(minutes=30)),
) -> geo.Volume4D:
    return geo.Volume4D(outline or square(), alt[0], alt[1], time[0], time[1])


def _or(value, default):
    return default if value is None else value


# --------------------------------------------------------------------------- intersection


@properties
@given(s.volumes(), s.volumes())
def test_volume_intersection_is_symmetric(a: geo.Volume4D, b: geo.Volume4D) -> None:
    assert geo.volumes_intersect(a, b) == geo.volumes_intersect(b, a)


@properties
@given(s.volumes())
def test_a_volume_intersects_itself(v: geo.Volume4D) -> None:
    assert geo.volumes_intersect(v, v)


@properties
@given(s.volumes(), s.volumes(), st.data())
def test_volumes_with_disjoint_time_intervals_never_intersect(
    a: geo.Volume4D, b: geo.Volume4D, data: st.DataObject
) -> None:
    a_start = _or(a.time_start, T0)
    a_end = a_start + data.draw(s.durations(), label="a duration")
    b_start = a_end + data.draw(s.durations(minimum=timedelta(0)), label="gap")
    b_end = data.draw(st.none() | st.just(b_start + timedelta(minutes=5)), label="b end")
    earlier = geo.Volume4D(
        a.outline, a.altitude_lower_w84_m, a.altitude_upper_w84_m, a.time_start, a_end
    )
    later = geo.Volume4D(b.outline, b.altitude_lower_w84_m, b.altitude_upper_w84_m, b_start, b_end)
    assert not geo.volumes_intersect(earlier, later)
    assert not geo.volumes_intersect(later, earlier)


@properties
@given(s.volumes(), s.volumes(), st.data())
def test_volumes_with_disjoint_altitude_ranges_never_intersect(
    a: geo.Volume4D, b: geo.Volume4D, data: st.DataObject
) -> None:
    a_upper = _or(a.altitude_upper_w84_m, 120.0)
    b_lower = a_upper + data.draw(st.floats(0.01, 1_000.0), label="gap")
    b_upper = data.draw(st.none() | st.just(b_lower + 50.0), label="b upper")
    below = geo.Volume4D(a.outline, a.altitude_lower_w84_m, a_upper, a.time_start, a.time_end)
    above = geo.Volume4D(b.outline, b_lower, b_upper, b.time_start, b.time_end)
    assert not geo.volumes_intersect(below, above)
    assert not geo.volumes_intersect(above, below)


def test_a_volume_ending_when_another_starts_does_not_intersect_it() -> None:
    first = volume(time=(T0, T0 + timedelta(minutes=30)))
    second = volume(time=(T0 + timedelta(minutes=30), T0 + timedelta(hours=1)))
    assert not geo.volumes_intersect(first, second)
    assert not geo.volumes_intersect(second, first)


def test_volumes_sharing_one_microsecond_intersect() -> None:
    first = volume(time=(T0, T0 + timedelta(minutes=30, microseconds=1)))
    second = volume(time=(T0 + timedelta(minutes=30), T0 + timedelta(hours=1)))
    assert geo.volumes_intersect(first, second)


def test_volumes_touching_in_altitude_intersect_because_altitude_ranges_are_closed() -> None:
    assert geo.volumes_intersect(volume(alt=(0.0, 60.0)), volume(alt=(60.0, 120.0)))


def test_overlapping_squares_intersect_and_far_apart_squares_do_not() -> None:
    here = volume(square(s.HUMPHREYS))
    next_door = volume(square(LatLng(s.HUMPHREYS.lat_deg + 0.008, s.HUMPHREYS.lng_deg)))
    osan = volume(square(LatLng(37.0906, 127.0297)))  # Osan Air Base, ~14 km north
    assert geo.volumes_intersect(here, next_door)
    assert not geo.volumes_intersect(here, osan)


def test_a_circle_intersects_a_square_it_reaches_but_not_one_just_beyond_its_radius() -> None:
    edge = square(s.HUMPHREYS)  # its east edge is 0.005° (~445 m) east of the centre
    centre_east = LatLng(s.HUMPHREYS.lat_deg, s.HUMPHREYS.lng_deg + 0.010)  # ~890 m east
    assert geo.volumes_intersect(volume(edge), volume(geo.CircleOutline(centre_east, 500.0)))
    assert not geo.volumes_intersect(volume(edge), volume(geo.CircleOutline(centre_east, 400.0)))


def test_a_square_across_the_antimeridian_intersects_its_neighbour() -> None:
    west_of_line = square(LatLng(-16.5, 179.999), half_deg=0.002)  # Fiji
    east_of_line = square(LatLng(-16.5, -179.999), half_deg=0.002)
    assert geo.volumes_intersect(volume(west_of_line), volume(east_of_line))


@properties
@given(s.volumes(), s.volumes(outline=st.none()))
def test_a_volume_without_outline_meets_any_volume_its_bounds_overlap(
    v: geo.Volume4D, everywhere: geo.Volume4D
) -> None:
    bounds_overlap = geo.times_overlap(
        v.time_start, v.time_end, everywhere.time_start, everywhere.time_end
    ) and geo.altitudes_overlap(
        v.altitude_lower_w84_m,
        v.altitude_upper_w84_m,
        everywhere.altitude_lower_w84_m,
        everywhere.altitude_upper_w84_m,
    )
    assert geo.volumes_intersect(v, everywhere) == bounds_overlap


def test_any_intersect_finds_the_one_intersecting_pair() -> None:
    morning = volume(time=(T0, T0 + timedelta(hours=1)))
    evening = volume(time=(T0 + timedelta(hours=8), T0 + timedelta(hours=9)))
    night = volume(time=(T0 + timedelta(hours=12), T0 + timedelta(hours=13)))
    assert geo.any_intersect([morning, evening], [night, evening])
    assert not geo.any_intersect([morning, evening], [night])
    assert not geo.any_intersect([], [night])


# --------------------------------------------------------------------------- overlap of bounds


@properties
@given(s.time_intervals(), s.time_intervals())
def test_times_overlap_exactly_when_the_later_start_is_before_the_earlier_end(a, b) -> None:
    (a_start, a_end), (b_start, b_end) = a, b
    later_start = max(_or(a_start, NEVER), _or(b_start, NEVER))
    earlier_end = min(_or(a_end, FOREVER), _or(b_end, FOREVER))
    assert geo.times_overlap(a_start, a_end, b_start, b_end) == (later_start < earlier_end)


@properties
@given(s.altitude_ranges(), s.altitude_ranges())
def test_altitudes_overlap_exactly_when_the_higher_floor_is_not_above_the_lower_ceiling(
    a, b
) -> None:
    (a_lower, a_upper), (b_lower, b_upper) = a, b
    higher_floor = max(_or(a_lower, -math.inf), _or(b_lower, -math.inf))
    lower_ceiling = min(_or(a_upper, math.inf), _or(b_upper, math.inf))
    assert geo.altitudes_overlap(a_lower, a_upper, b_lower, b_upper) == (
        higher_floor <= lower_ceiling
    )


def test_unbounded_times_overlap_any_interval() -> None:
    assert geo.times_overlap(None, None, T0, T0 + timedelta(seconds=1))
    assert geo.times_overlap(None, T0 + timedelta(seconds=1), T0, None)
    assert geo.times_overlap(T0, None, None, T0 + timedelta(seconds=1))


def test_an_interval_open_towards_the_past_ends_before_one_starting_at_its_end() -> None:
    assert not geo.times_overlap(None, T0, T0, None)
    assert not geo.times_overlap(T0, None, None, T0)


def test_unbounded_altitudes_overlap_any_range() -> None:
    assert geo.altitudes_overlap(None, None, 5_000.0, 6_000.0)
    assert geo.altitudes_overlap(None, 100.0, 100.0, None)
    assert not geo.altitudes_overlap(None, 99.0, 100.0, None)
    assert not geo.altitudes_overlap(100.0, None, None, 99.0)


# --------------------------------------------------------------------------- envelope


@properties
@given(st.lists(s.volumes(), min_size=1, max_size=6))
def test_the_envelope_contains_every_volume_and_is_no_larger(vols: list[geo.Volume4D]) -> None:
    env = geo.envelope(vols)
    for v in vols:
        assert _or(env.time_start, NEVER) <= _or(v.time_start, NEVER)
        assert _or(env.time_end, FOREVER) >= _or(v.time_end, FOREVER)
        assert _or(env.altitude_lower_w84_m, -math.inf) <= _or(v.altitude_lower_w84_m, -math.inf)
        assert _or(env.altitude_upper_w84_m, math.inf) >= _or(v.altitude_upper_w84_m, math.inf)
    # Tight: each bound is some volume's bound (None only when some volume is unbounded).
    assert env.time_start in {v.time_start for v in vols}
    assert env.time_end in {v.time_end for v in vols}
    assert env.altitude_lower_w84_m in {v.altitude_lower_w84_m for v in vols}
    assert env.altitude_upper_w84_m in {v.altitude_upper_w84_m for v in vols}


def test_the_envelope_is_unbounded_where_any_volume_is() -> None:
    env = geo.envelope([volume(), volume(alt=(None, 50.0), time=(T0, None))])
    assert env == geo.Bounds4D(
        time_start=T0, time_end=None, altitude_lower_w84_m=None, altitude_upper_w84_m=120.0
    )


def test_the_envelope_of_no_volumes_is_refused() -> None:
    with pytest.raises(BadGeometry, match="at least one volume"):
        geo.envelope([])


# --------------------------------------------------------------------------- validation


@properties
@given(s.outlines())
def test_generated_outlines_are_valid(outline: geo.Outline) -> None:
    geo.validate_outline(outline)


def test_a_realistic_square_and_circle_are_valid() -> None:
    geo.validate_outline(square())
    geo.validate_outline(geo.CircleOutline(s.HUMPHREYS, 500.0))


@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_polygon_with_fewer_than_three_vertices_is_refused(count: int) -> None:
    outline = geo.PolygonOutline(square().vertices[:count])
    with pytest.raises(BadGeometry, match=f"at least 3 vertices, got {count}"):
        geo.validate_outline(outline)


def test_a_polygon_with_only_two_distinct_vertices_is_refused() -> None:
    a, b = LatLng(36.96, 127.03), LatLng(36.97, 127.04)
    with pytest.raises(BadGeometry, match="3 distinct vertices"):
        geo.validate_outline(geo.PolygonOutline((a, b, a, b)))


def test_a_polygon_of_collinear_vertices_is_refused() -> None:
    line = geo.PolygonOutline((LatLng(36.96, 127.03), LatLng(36.96, 127.04), LatLng(36.96, 127.05)))
    with pytest.raises(BadGeometry, match="collinear"):
        geo.validate_outline(line)


@pytest.mark.parametrize(
    ("point", "complaint"),
    [
        (LatLng(90.5, 127.03), "latitude 90.5 is outside"),
        (LatLng(-91.0, 127.03), "latitude -91.0 is outside"),
        (LatLng(math.nan, 127.03), "latitude nan is outside"),
        (LatLng(36.96, 180.5), "longitude 180.5 is outside"),
        (LatLng(36.96, -181.0), "longitude -181.0 is outside"),
        (LatLng(36.96, math.inf), "longitude inf is outside"),
    ],
)
def test_a_vertex_or_centre_off_the_earth_is_refused(point: LatLng, complaint: str) -> None:
    polygon = geo.PolygonOutline((*square().vertices[:2], point))
    with pytest.raises(BadGeometry, match=complaint):
        geo.validate_outline(polygon)
    with pytest.raises(BadGeometry, match=complaint):
        geo.validate_outline(geo.CircleOutline(point, 500.0))


@pytest.mark.parametrize("radius_m", [0.0, -10.0, math.nan, math.inf])
def test_a_circle_without_a_positive_finite_radius_is_refused(radius_m: float) -> None:
    with pytest.raises(BadGeometry, match="radius must be a positive number of metres"):
        geo.validate_outline(geo.CircleOutline(s.HUMPHREYS, radius_m))
