"""S2 cell coverings of outlines, the DSS's spatial index (level 13, as InterUSS).

Uses Google's ``s2geometry`` bindings: ~16x faster than pure-Python ``s2sphere`` for a
level-13 covering of a 2 km square (0.05 ms vs 0.9 ms, measured on this machine kind).
Cell ids are S2's unsigned 64-bit ids, mapped to signed 64-bit integers for SQL storage.
"""

from __future__ import annotations

import math

import s2geometry as s2

from dronecoop.airspace.errors import AreaTooLarge, BadGeometry
from dronecoop.airspace.geo import EARTH_RADIUS_M, CircleOutline, Outline

S2_CELL_LEVEL = 13  # InterUSS dss pkg/geo: min = max level 13 (~1 km^2 cells)
MAX_AREA_KM2 = 2500.0  # InterUSS dss pkg/geo maxAllowedAreaKm2
# A backstop on covering size (a level-13 cell is ~1.27 km^2 at mid latitudes, smaller
# towards the poles): protects the index from pathological outlines the area test misses.
MAX_CELLS = 20_000

_INT64_OFFSET = 1 << 64


def _to_signed(cell_id: int) -> int:
    return cell_id - _INT64_OFFSET if cell_id >= (1 << 63) else cell_id


def to_unsigned(cell_id: int) -> int:
    return cell_id + _INT64_OFFSET if cell_id < 0 else cell_id


def _coverer() -> s2.S2RegionCoverer:
    coverer = s2.S2RegionCoverer()
    coverer.set_min_level(S2_CELL_LEVEL)
    coverer.set_max_level(S2_CELL_LEVEL)
    coverer.set_max_cells(MAX_CELLS + 1)
    return coverer


def covering(outline: Outline) -> frozenset[int]:
    """Level-13 S2 cells (signed 64-bit ids) covering ``outline``.

    Raises AreaTooLarge when more than MAX_CELLS cells would be needed.
    """
    if isinstance(outline, CircleOutline):
        area_km2 = math.pi * (outline.radius_m / 1000.0) ** 2
        if area_km2 > MAX_AREA_KM2:
            raise AreaTooLarge(f"Area is too large ({area_km2:.1f} km² > {MAX_AREA_KM2:.0f} km²)")
        center = s2.S2LatLng.FromDegrees(outline.center.lat_deg, outline.center.lng_deg).ToPoint()
        angle = s2.S1Angle.Radians(outline.radius_m / EARTH_RADIUS_M)
        region: object = s2.S2Cap(center, angle)
    else:
        points = [s2.S2LatLng.FromDegrees(v.lat_deg, v.lng_deg).ToPoint() for v in outline.vertices]
        loop = s2.S2Loop(points)
        # Accept either winding: S2 loops are CCW; a CW ring would mean "the rest of the Earth".
        loop.Normalize()
        if not loop.IsValid():
            raise BadGeometry("polygon outline is not a valid simple loop (edges cross or repeat)")
        area_km2 = loop.GetArea() * (EARTH_RADIUS_M / 1000.0) ** 2
        if area_km2 > MAX_AREA_KM2:
            raise AreaTooLarge(f"Area is too large ({area_km2:.1f} km² > {MAX_AREA_KM2:.0f} km²)")
        region = loop
    cells = _coverer().GetCovering(region)
    if len(cells) > MAX_CELLS:
        raise AreaTooLarge(f"area is too large: it needs more than {MAX_CELLS} S2 cells")
    return frozenset(_to_signed(cell.id()) for cell in cells)


def approx_area_km2(cells: frozenset[int]) -> float:
    """Approximate area of a covering in km^2 (for messages and limits)."""
    total = 0.0
    for cell_id in cells:
        total += s2.S2Cell(s2.S2CellId(to_unsigned(cell_id))).ExactArea()
    return total * (EARTH_RADIUS_M / 1000.0) ** 2
