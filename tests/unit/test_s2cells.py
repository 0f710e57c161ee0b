"""S2 coverings: the DSS's spatial index must never miss a cell an outline touches."""

from __future__ import annotations

import math

import pytest
import s2geometry
from hypothesis import given, settings

from dronecoop.airspace import geo, s2cells
from dronecoop.airspace.errors import AreaTooLarge, BadGeometry
from tests import strategies as s

LatLng = geo.LatLng
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
BUSAN = LatLng(35.1028, 129.0403)
# Soto Cano Air Base, Honduras: its S2 face (4) has ids at or above 2^63.
SOTO_CANO = LatLng(14.3824, -87.6212)

properties = settings(max_examples=100, deadline=None)


def cell_of(point: LatLng) -> int:
    """The unsigned id of the level-13 cell holding ``point``."""
    leaf = s2geometry.S2CellId(s2geometry.S2LatLng.FromDegrees(point.lat_deg, point.lng_deg))
    return leaf.parent(s2cells.S2_CELL_LEVEL).id()


def unsigned(cells: frozenset[int]) -> set[int]:
    return {s2cells.to_unsigned(c) for c in cells}


def rectangle(centre: LatLng, height_km: float, width_km: float) -> geo.PolygonOutline:
    half_lat = height_km / 2 / (s.METRES_PER_DEGREE_LAT / 1000)
    half_lng = (
        width_km / 2 / (s.METRES_PER_DEGREE_LAT / 1000 * math.cos(math.radians(centre.lat_deg)))
    )
    lat, lng = centre.lat_deg, centre.lng_deg
    return geo.PolygonOutline(
        (
            LatLng(lat - half_lat, lng - half_lng),
            LatLng(lat - half_lat, lng + half_lng),
            LatLng(lat + half_lat, lng + half_lng),
            LatLng(lat + half_lat, lng - half_lng),
        )
    )


@properties
@given(s.outlines())
def test_every_covering_cell_is_a_level_13_cell_stored_as_a_signed_64_bit_integer(
    outline: geo.Outline,
) -> None:
    cells = s2cells.covering(outline)
    assert cells
    for cell in cells:
        assert INT64_MIN <= cell <= INT64_MAX
        assert s2geometry.S2CellId(s2cells.to_unsigned(cell)).level() == 13


@properties
@given(s.star_polygons())
def test_a_polygon_covering_holds_the_cell_of_every_vertex_and_of_the_centre(pair) -> None:
    polygon, centre = pair
    cells = unsigned(s2cells.covering(polygon))
    for vertex in polygon.vertices:
        assert cell_of(vertex) in cells
    assert cell_of(centre) in cells


@properties
@given(s.circle_outlines())
def test_a_circle_covering_holds_the_cell_of_its_centre(circle: geo.CircleOutline) -> None:
    assert cell_of(circle.center) in unsigned(s2cells.covering(circle))


@properties
@given(s.polygon_outlines())
def test_clockwise_and_counter_clockwise_rings_have_the_same_covering(
    polygon: geo.PolygonOutline,
) -> None:
    clockwise = geo.PolygonOutline(polygon.vertices[::-1])
    assert s2cells.covering(clockwise) == s2cells.covering(polygon)


@properties
@given(s.outline_pairs())
def test_outlines_that_intersect_share_at_least_one_cell(pair) -> None:
    a, b = pair
    # The DSS finds conflicts through shared cells: a miss here would be a missed conflict.
    if geo.volumes_intersect(geo.Volume4D(a), geo.Volume4D(b)):
        assert s2cells.covering(a) & s2cells.covering(b)


def test_overlapping_squares_share_cells() -> None:
    here = rectangle(s.HUMPHREYS, 2.0, 2.0)
    a_km_north = rectangle(LatLng(s.HUMPHREYS.lat_deg + 0.009, s.HUMPHREYS.lng_deg), 2.0, 2.0)
    assert s2cells.covering(here) & s2cells.covering(a_km_north)


def test_outlines_far_apart_share_no_cell() -> None:
    assert not s2cells.covering(rectangle(s.HUMPHREYS, 2.0, 2.0)) & s2cells.covering(
        geo.CircleOutline(BUSAN, 2_000.0)
    )


def test_cells_in_the_upper_half_of_the_id_space_become_negative_and_map_back() -> None:
    cells = s2cells.covering(geo.CircleOutline(SOTO_CANO, 1_000.0))
    assert all(cell < 0 for cell in cells)
    assert cell_of(SOTO_CANO) in unsigned(cells)


def test_a_bow_tie_polygon_is_refused() -> None:
    lat, lng = s.HUMPHREYS.lat_deg, s.HUMPHREYS.lng_deg
    bow_tie = geo.PolygonOutline(
        (
            LatLng(lat - 0.01, lng - 0.01),
            LatLng(lat + 0.01, lng + 0.01),
            LatLng(lat - 0.01, lng + 0.01),
            LatLng(lat + 0.01, lng - 0.01),
        )
    )
    with pytest.raises(BadGeometry, match="not a valid simple loop"):
        s2cells.covering(bow_tie)


def test_a_ring_closed_by_repeating_its_first_vertex_is_refused() -> None:
    # F3548-21 Polygon: "the final polygon vertex must not be identical to the first vertex".
    square = rectangle(s.HUMPHREYS, 1.0, 1.0)
    closed = geo.PolygonOutline((*square.vertices, square.vertices[0]))
    with pytest.raises(BadGeometry, match="edges cross or repeat"):
        s2cells.covering(closed)


def test_a_polygon_larger_than_2500_km2_is_refused() -> None:
    with pytest.raises(AreaTooLarge, match=r"Area is too large \(30\d\d\.\d km² > 2500 km²\)"):
        s2cells.covering(rectangle(s.HUMPHREYS, 55.0, 55.0))


def test_a_polygon_just_under_2500_km2_is_covered() -> None:
    cells = s2cells.covering(rectangle(s.HUMPHREYS, 49.0, 49.0))
    assert 2_300 < s2cells.approx_area_km2(cells) < 2_800


def test_a_circle_larger_than_2500_km2_is_refused() -> None:
    with pytest.raises(AreaTooLarge, match=r"Area is too large \(2827\.4 km² > 2500 km²\)"):
        s2cells.covering(geo.CircleOutline(s.HUMPHREYS, 30_000.0))


def test_a_circle_just_under_2500_km2_is_covered() -> None:
    cells = s2cells.covering(geo.CircleOutline(s.HUMPHREYS, 28_000.0))  # 2463 km²
    assert 2_300 < s2cells.approx_area_km2(cells) < 2_800


def test_the_approximate_area_of_a_covering_is_at_least_the_outline_area() -> None:
    cells = s2cells.covering(rectangle(s.HUMPHREYS, 3.0, 3.0))
    assert 9.0 <= s2cells.approx_area_km2(cells) < 9.0 + 4 * 4 * 1.3
