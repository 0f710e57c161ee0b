"""One area of interest around many volumes (pure): what a USS asks a DSS about.

The DSS query takes a single ``Volume4D``; a route is many. The area is the convex hull of
every outline (circles sampled outside their radius), grown by a margin, with the
volumes' altitude and time envelopes: it contains every volume, so no intersecting
reference can be missed, and it stays one small polygon whatever the route's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from shapely.geometry import MultiPoint, Polygon

from dronecoop.airspace import geo
from dronecoop.airspace.geo import CircleOutline, LatLng, PolygonOutline, Volume4D

MARGIN_M = 30.0  # covers the plane-vs-great-circle difference of edges a few km long
MAX_VERTICES = 64
_M_PER_DEG_LAT = 111_320.0


def area_of_interest(volumes: Sequence[Volume4D]) -> Volume4D:
    """A polygon volume containing every volume of ``volumes`` (each must have an outline)."""
    if not volumes:
        raise ValueError("no volumes")
    points: list[tuple[float, float]] = []
    for volume in volumes:
        outline = volume.outline
        if isinstance(outline, PolygonOutline):
            points += [(v.lng_deg, v.lat_deg) for v in outline.vertices]
        elif isinstance(outline, CircleOutline):
            points += _circle_points(outline)
        else:
            raise ValueError("every volume needs an outline")  # noqa: TRY004 - bad value
    mid_lat = sum(p[1] for p in points) / len(points)
    margin_deg = MARGIN_M / (_M_PER_DEG_LAT * max(0.05, math.cos(math.radians(mid_lat))))
    hull = MultiPoint(points).convex_hull.buffer(margin_deg, quad_segs=2)
    ring = _densified(_bounded(hull, margin_deg))
    bounds = geo.envelope(volumes)
    return Volume4D(
        outline=PolygonOutline(tuple(LatLng(lat, lng) for lng, lat in ring)),
        altitude_lower_w84_m=bounds.altitude_lower_w84_m,
        altitude_upper_w84_m=bounds.altitude_upper_w84_m,
        time_start=bounds.time_start,
        time_end=bounds.time_end,
    )


MAX_EDGE_DEG = 0.02  # ~2 km: a great-circle edge that short bows < 1 m from the plane's


def _densified(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The ring with points added so no edge is longer than MAX_EDGE_DEG (the DSS joins
    vertices by great circles, which bow poleward of the straight lines drawn here), and
    clamped to valid coordinates."""
    out: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        steps = max(1, math.ceil(max(abs(x1 - x0), abs(y1 - y0)) / MAX_EDGE_DEG))
        out += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(steps)]
    return [(min(180.0, max(-180.0, x)), min(90.0, max(-90.0, y))) for x, y in out]


def _circle_points(circle: CircleOutline) -> list[tuple[float, float]]:
    # A polygon of n sides inscribed in r/cos(pi/n) contains the circle of radius r.
    n = 16
    radius = circle.radius_m / math.cos(math.pi / n)
    dlat = radius / _M_PER_DEG_LAT
    dlng = dlat / max(0.01, math.cos(math.radians(circle.center.lat_deg)))
    return [
        (
            circle.center.lng_deg + dlng * math.cos(2 * math.pi * k / n),
            circle.center.lat_deg + dlat * math.sin(2 * math.pi * k / n),
        )
        for k in range(n)
    ]


def _bounded(shape: Polygon, margin_deg: float) -> list[tuple[float, float]]:
    """The exterior ring (no closing vertex) with at most MAX_VERTICES vertices, still
    containing ``shape``: simplify the hull of a slightly larger buffer."""
    ring = list(shape.exterior.coords)[:-1]
    tolerance = margin_deg / 4
    grown = shape
    while len(ring) > MAX_VERTICES:
        grown = shape.buffer(tolerance, quad_segs=1).convex_hull
        ring = list(grown.simplify(tolerance, preserve_topology=True).exterior.coords)[:-1]
        tolerance *= 2
    return ring
