"""From a mission to the 4D volumes that reserve its airspace (pure core).

1. ``trajectory``: where the aircraft is when — from home, through every position, at a
   constant ground speed, with altitudes turned into metres above the WGS-84 ellipsoid.
2. ``volumes``: a survey becomes one volume, its area (with the path flown over it) for
   its whole sweep; other consecutive legs are grouped while a group lasts at most
   ``Margins.max_volume_s``; each group becomes its legs buffered by the lateral margin
   (in a local azimuthal-equidistant frame), its altitude band widened by the vertical
   margin, and its time window widened by the time margin. Neighbouring groups share
   their boundary point, so every moment of the flight is inside some volume.

Simplification never cuts into the margin: the buffer is widened by the tolerance first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import shapely
from pyproj import Transformer
from shapely.geometry import MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dronecoop.airspace.geo import LatLng, PolygonOutline, Volume4D
from dronecoop.planning.errors import PlanningError
from dronecoop.planning.mission import AltitudeReference, Mission, SurveyArea

SIMPLIFY_TOLERANCE_M = 2.0
MAX_VERTICES = 200  # per outline; far below what the DSS accepts
LEG_SAMPLES_PER_VOLUME = 2  # long legs are cut so a volume spans at most this many pieces


@dataclass(frozen=True, slots=True)
class Margins:
    """Navigation and timing uncertainty a volume must absorb."""

    lateral_m: float = 20.0
    vertical_m: float = 15.0
    time_s: float = 60.0
    max_volume_s: float = 180.0  # a longer group reserves airspace longer than needed

    def __post_init__(self) -> None:
        if min(self.lateral_m, self.vertical_m, self.time_s) < 0 or self.max_volume_s <= 0:
            raise PlanningError("margins must not be negative, max_volume_s must be positive")


@dataclass(frozen=True, slots=True)
class FlightPoint:
    lat_deg: float
    lng_deg: float
    altitude_w84_m: float
    at: datetime


class LocalFrame:
    """Metres east/north of an origin (azimuthal equidistant on WGS-84)."""

    def __init__(self, origin_lat_deg: float, origin_lng_deg: float) -> None:
        crs = f"+proj=aeqd +lat_0={origin_lat_deg} +lon_0={origin_lng_deg} +datum=WGS84 +units=m"
        self._to_local = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._to_geo = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def to_local(self, lat_deg: float, lng_deg: float) -> tuple[float, float]:
        x, y = self._to_local.transform(lng_deg, lat_deg)
        return float(x), float(y)

    def to_latlng(self, x_m: float, y_m: float) -> tuple[float, float]:
        lng, lat = self._to_geo.transform(x_m, y_m)
        return float(lat), float(lng)


def trajectory(
    mission: Mission,
    *,
    start: datetime,
    ground_speed_mps: float,
    home_altitude_amsl_m: float | None = None,
    geoid_undulation_m: float = 0.0,
) -> list[FlightPoint]:
    """Where the aircraft is when, from take-off at home to the last position (or home).

    Altitudes: above home → home AMSL + value; AMSL → value; above terrain → home AMSL +
    value (terrain under the route is not known here: flat ground at home's elevation).
    ``geoid_undulation_m`` (N) turns mean sea level into the ellipsoid: h = H + N.
    """
    if not mission.positions:
        raise PlanningError("the mission has no positions to fly to")
    if not (ground_speed_mps > 0 and math.isfinite(ground_speed_mps)):
        raise PlanningError("ground speed must be a positive number of m/s")
    home_lat, home_lng, plan_home_alt = mission.home
    home_amsl = home_altitude_amsl_m if home_altitude_amsl_m is not None else plan_home_alt
    if home_amsl is None:
        raise PlanningError(
            "the plan gives no home altitude: give the take-off point's altitude above mean sea "
            "level (home_altitude_amsl_m; dronecoop flights plan --home-altitude)"
        )
    frame = LocalFrame(home_lat, home_lng)

    def w84(altitude_m: float, reference: AltitudeReference) -> float:
        amsl = altitude_m if reference is AltitudeReference.AMSL else home_amsl + altitude_m
        return amsl + geoid_undulation_m

    stops = [(home_lat, home_lng, home_amsl + geoid_undulation_m)]
    stops += [(p.lat_deg, p.lng_deg, w84(p.altitude_m, p.reference)) for p in mission.positions]
    if mission.returns_home:
        cruise = max(alt for _, _, alt in stops)
        stops += [(home_lat, home_lng, cruise), (home_lat, home_lng, stops[0][2])]
    points = [FlightPoint(stops[0][0], stops[0][1], stops[0][2], start)]
    x0, y0 = frame.to_local(stops[0][0], stops[0][1])
    elapsed_s = 0.0
    for lat, lng, alt in stops[1:]:
        x1, y1 = frame.to_local(lat, lng)
        previous = points[-1]
        distance = math.dist((x0, y0, previous.altitude_w84_m), (x1, y1, alt))
        elapsed_s += distance / ground_speed_mps
        points.append(FlightPoint(lat, lng, alt, start + timedelta(seconds=elapsed_s)))
        x0, y0 = x1, y1
    return points


def volumes(
    points: Sequence[FlightPoint],
    margins: Margins = Margins(),
    surveys: Sequence[SurveyArea] = (),
) -> list[Volume4D]:
    """The fewest volumes that hold the whole flight: its legs in volumes of at most
    ``max_volume_s``, or — when that takes fewer volumes — each survey
    (``Mission.surveys``; ``points`` as ``trajectory`` made them, home first) as one volume
    over its area for its whole sweep and the other stretches as legs. Neighbours share
    their boundary point, so no moment is left out."""
    if len(points) < 2:
        raise PlanningError("a trajectory needs at least two points")
    frame = LocalFrame(points[0].lat_deg, points[0].lng_deg)
    as_path = _path_volumes(points, margins, frame)
    if not surveys:
        return as_path
    with_areas = _with_survey_areas(points, margins, surveys, frame)
    return with_areas if len(with_areas) < len(as_path) else as_path


def _with_survey_areas(
    points: Sequence[FlightPoint],
    margins: Margins,
    surveys: Sequence[SurveyArea],
    frame: LocalFrame,
) -> list[Volume4D]:
    result: list[Volume4D] = []
    cursor = 0
    for survey in sorted(surveys, key=lambda a: a.first):
        first, last = survey.first + 1, survey.last + 1  # home is point 0
        if first < cursor or last >= len(points) or last <= first:
            continue  # overlapping or out of range: its legs are covered as a path
        if first > cursor:
            result += _path_volumes(points[cursor : first + 1], margins, frame)
        result.append(_survey_volume(points[first : last + 1], survey, margins, frame))
        cursor = last
    if cursor < len(points) - 1:
        result += _path_volumes(points[cursor:], margins, frame)
    return result


def _path_volumes(
    points: Sequence[FlightPoint], margins: Margins, frame: LocalFrame
) -> list[Volume4D]:
    samples = _cut_long_legs(points, margins.max_volume_s / LEG_SAMPLES_PER_VOLUME, frame)
    result: list[Volume4D] = []
    group = [samples[0]]
    for point in samples[1:]:
        if (
            group
            and (point.at - group[0].at).total_seconds() > margins.max_volume_s
            and len(group) > 1
        ):
            result.append(_volume(group, margins, frame))
            group = [group[-1]]  # share the boundary point
        group.append(point)
    result.append(_volume(group, margins, frame))
    return result


def _survey_volume(
    group: Sequence[FlightPoint], survey: SurveyArea, margins: Margins, frame: LocalFrame
) -> Volume4D:
    """The survey's polygon joined with the path actually flown over it (turns may
    overshoot the polygon), buffered by the lateral margin, for the whole sweep."""
    area = Polygon([frame.to_local(lat, lng) for lat, lng in survey.polygon]).buffer(0)
    path = _path_shape([frame.to_local(p.lat_deg, p.lng_deg) for p in group])
    return _bounded_volume(shapely.union(area, path), group, margins, frame)


def _cut_long_legs(
    points: Sequence[FlightPoint], max_leg_s: float, frame: LocalFrame
) -> list[FlightPoint]:
    """``points`` with legs longer than ``max_leg_s`` split at evenly spaced points."""
    out = [points[0]]
    for a, b in itertools.pairwise(points):
        duration = (b.at - a.at).total_seconds()
        pieces = max(1, math.ceil(duration / max_leg_s))
        if pieces > 1:
            ax, ay = frame.to_local(a.lat_deg, a.lng_deg)
            bx, by = frame.to_local(b.lat_deg, b.lng_deg)
            for k in range(1, pieces):
                f = k / pieces
                lat, lng = frame.to_latlng(ax + f * (bx - ax), ay + f * (by - ay))
                alt = a.altitude_w84_m + f * (b.altitude_w84_m - a.altitude_w84_m)
                out.append(FlightPoint(lat, lng, alt, a.at + (b.at - a.at) * f))
        out.append(b)
    return out


def _volume(group: Sequence[FlightPoint], margins: Margins, frame: LocalFrame) -> Volume4D:
    path = _path_shape([frame.to_local(p.lat_deg, p.lng_deg) for p in group])
    return _bounded_volume(path, group, margins, frame)


def _path_shape(xy: Sequence[tuple[float, float]]) -> BaseGeometry:
    """The path through ``xy`` as its separate legs (a point if it never moves).

    GEOS buffers a single line that doubles back on itself (out to a waypoint and back
    along the same track) wrongly: it can drop the far end cap, leaving the waypoint
    outside the volume. The legs as a MultiLineString are buffered one by one and united.
    """
    legs = [leg for leg in itertools.pairwise(xy) if leg[0] != leg[1]]
    return MultiLineString(legs) if legs else Point(xy[0])


def _bounded_volume(
    shape: BaseGeometry, group: Sequence[FlightPoint], margins: Margins, frame: LocalFrame
) -> Volume4D:
    """``shape`` (local metres) buffered by the lateral margin, at most MAX_VERTICES
    vertices, with ``group``'s altitudes and times widened by the margins."""
    tolerance = SIMPLIFY_TOLERANCE_M
    area = shape.buffer(margins.lateral_m + tolerance, quad_segs=4)
    outline = _polygon(area.simplify(tolerance, preserve_topology=True))
    while len(outline.exterior.coords) - 1 > MAX_VERTICES:
        tolerance *= 2
        outline = _polygon(
            shape.buffer(margins.lateral_m + tolerance, quad_segs=4).simplify(tolerance)
        )
    vertices = tuple(LatLng(*frame.to_latlng(x, y)) for x, y in list(outline.exterior.coords)[:-1])
    altitudes = [p.altitude_w84_m for p in group]
    return Volume4D(
        outline=PolygonOutline(vertices),
        altitude_lower_w84_m=min(altitudes) - margins.vertical_m,
        altitude_upper_w84_m=max(altitudes) + margins.vertical_m,
        time_start=group[0].at - timedelta(seconds=margins.time_s),
        time_end=group[-1].at + timedelta(seconds=margins.time_s),
    )


def _polygon(shape: BaseGeometry) -> Polygon:
    """A buffer of a connected shape is one polygon; anything else, its convex hull."""
    if isinstance(shape, Polygon):
        return shape
    hull = shapely.convex_hull(shape)
    if not isinstance(hull, Polygon):
        raise PlanningError("a volume's outline collapsed to a line or a point")
    return hull
