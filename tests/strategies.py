"""Hypothesis strategies for the airspace core: outlines, altitude ranges, time intervals.

Outlines stay small (tens of metres to a few kilometres) and near Camp Humphreys,
Pyeongtaek, so that pairs of them overlap often enough for properties to bite and every
covering stays far below the DSS's area limit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from dronecoop.airspace import geo
from dronecoop.trust.audit import AuditEvent

# Camp Humphreys, Pyeongtaek (ROK): the allies' exercise area.
HUMPHREYS = geo.LatLng(36.9628, 127.0311)
# Outline centres fall within this many degrees of HUMPHREYS (~7 km of latitude).
CENTRE_SPREAD_DEG = 0.06
MIN_OUTLINE_RADIUS_M = 20.0
MAX_OUTLINE_RADIUS_M = 3_000.0
METRES_PER_DEGREE_LAT = math.radians(1.0) * geo.EARTH_RADIUS_M

# A window around a plausible exercise date, UTC.
EARLIEST = datetime(2030, 1, 1)  # noqa: DTZ001 - bounds for st.datetimes must be naive
LATEST = datetime(2030, 1, 8)  # noqa: DTZ001 - the strategy attaches UTC
MAX_DURATION = timedelta(hours=6)

ALTITUDE_FLOOR_W84_M = -100.0
ALTITUDE_CEILING_W84_M = 3_000.0


def latlngs(centre: geo.LatLng = HUMPHREYS, spread_deg: float = CENTRE_SPREAD_DEG):
    """Points within ``spread_deg`` of ``centre``."""
    return st.builds(
        geo.LatLng,
        st.floats(centre.lat_deg - spread_deg, centre.lat_deg + spread_deg),
        st.floats(centre.lng_deg - spread_deg, centre.lng_deg + spread_deg),
    )


def offset(centre: geo.LatLng, bearing_rad: float, distance_m: float) -> geo.LatLng:
    """The point ``distance_m`` from ``centre`` along ``bearing_rad`` (flat-Earth, small d)."""
    north_m = distance_m * math.cos(bearing_rad)
    east_m = distance_m * math.sin(bearing_rad)
    return geo.LatLng(
        centre.lat_deg + north_m / METRES_PER_DEGREE_LAT,
        centre.lng_deg + east_m / (METRES_PER_DEGREE_LAT * math.cos(math.radians(centre.lat_deg))),
    )


@st.composite
def star_polygons(draw, centre: st.SearchStrategy[geo.LatLng] | None = None):
    """A simple polygon, counter-clockwise, star-shaped about a centre that lies inside it.

    Returns ``(outline, centre)``. Vertices sit at equally spaced bearings (gaps < 180°),
    each at its own distance from the centre, so the ring never crosses itself.
    """
    middle = draw(centre if centre is not None else latlngs())
    count = draw(st.integers(3, 8))
    rotation = draw(st.floats(0.0, 2 * math.pi, exclude_max=True))
    radius_m = draw(st.floats(MIN_OUTLINE_RADIUS_M, MAX_OUTLINE_RADIUS_M))
    stretches = draw(st.lists(st.floats(0.5, 1.0), min_size=count, max_size=count))
    # Decreasing bearings (clockwise from north) are increasing math angles: CCW on a map.
    vertices = tuple(
        offset(middle, rotation - 2 * math.pi * i / count, radius_m * stretch)
        for i, stretch in enumerate(stretches)
    )
    return geo.PolygonOutline(vertices), middle


def polygon_outlines():
    return star_polygons().map(lambda pair: pair[0])


def circle_outlines(centre: st.SearchStrategy[geo.LatLng] | None = None):
    return st.builds(
        geo.CircleOutline,
        centre if centre is not None else latlngs(),
        st.floats(MIN_OUTLINE_RADIUS_M, MAX_OUTLINE_RADIUS_M),
    )


def outlines():
    return st.one_of(polygon_outlines(), circle_outlines())


@st.composite
def outline_pairs(draw):
    """Two outlines whose centres lie within twice the largest radius: often overlapping."""
    first_centre = draw(latlngs())
    second_centre = offset(
        first_centre,
        draw(st.floats(0.0, 2 * math.pi)),
        draw(st.floats(0.0, 2 * MAX_OUTLINE_RADIUS_M)),
    )

    def around(centre: geo.LatLng):
        return st.one_of(
            star_polygons(st.just(centre)).map(lambda pair: pair[0]),
            circle_outlines(st.just(centre)),
        )

    return draw(around(first_centre)), draw(around(second_centre))


def moments():
    """UTC-aware datetimes in a week of 2030."""
    return st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC))


def durations(minimum: timedelta = timedelta(seconds=1)):
    return st.timedeltas(minimum, MAX_DURATION)


def maybe(value, *, bounded: bool):
    """``value``, or (unless ``bounded``) possibly ``None``."""
    return st.just(value) if bounded else st.none() | st.just(value)


@st.composite
def time_intervals(draw, *, bounded: bool = False):
    """A non-empty half-open interval ``(start, end)``; ``None`` bounds are unbounded."""
    start = draw(moments())
    end = start + draw(durations())
    return draw(maybe(start, bounded=bounded)), draw(maybe(end, bounded=bounded))


def altitudes():
    return st.floats(ALTITUDE_FLOOR_W84_M, ALTITUDE_CEILING_W84_M)


@st.composite
def altitude_ranges(draw, *, bounded: bool = False):
    """``(lower, upper)`` with ``lower <= upper``; ``None`` bounds are unbounded."""
    lower, upper = sorted((draw(altitudes()), draw(altitudes())))
    return draw(maybe(lower, bounded=bounded)), draw(maybe(upper, bounded=bounded))


@st.composite
def volumes(
    draw,
    outline: st.SearchStrategy[geo.Outline | None] | None = None,
    *,
    bounded: bool = False,
):
    """A 4D volume with a non-empty time interval.

    Unless ``bounded``, any bound may be ``None`` (unbounded) and the outline may be absent.
    """
    if outline is None:
        outline = outlines() if bounded else st.none() | outlines()
    lower, upper = draw(altitude_ranges(bounded=bounded))
    start, end = draw(time_intervals(bounded=bounded))
    return geo.Volume4D(
        outline=draw(outline),
        altitude_lower_w84_m=lower,
        altitude_upper_w84_m=upper,
        time_start=start,
        time_end=end,
    )


def bounded_volumes():
    """Volumes with an outline and every bound given, as an operational intent's extents."""
    return volumes(bounded=True)


# -- trust: audit events -------------------------------------------------------------------
def audit_events() -> st.SearchStrategy[AuditEvent]:
    """Audit events with the kinds of values the capabilities record."""
    names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-._", min_size=1, max_size=20)
    digests = st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex)
    return st.builds(
        AuditEvent,
        partner=st.sampled_from(["rok-army", "us-army", "local"]),
        actor=names,
        action=names,
        target_kind=names,
        target_id=st.uuids().map(str),
        before_digest=digests,
        after_digest=digests,
        at=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    )
