"""Which S2 library: Google's ``s2geometry`` bindings against pure-Python ``s2sphere``.

Times a level-13 covering (the DSS's index) of the same outlines with both, in one run:

    .venv/bin/python bench/s2.py [--repeat 300]

``s2sphere`` is only needed for this comparison: ``pip install s2sphere``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentiles, print_table
from dronecoop.airspace.geo import CircleOutline, LatLng, PolygonOutline
from dronecoop.airspace.s2cells import covering

CENTER = (36.9628, 127.0311)  # Camp Humphreys, Pyeongtaek


def square(half_deg: float) -> PolygonOutline:
    lat, lng = CENTER
    return PolygonOutline(
        (
            LatLng(lat - half_deg, lng - half_deg),
            LatLng(lat - half_deg, lng + half_deg),
            LatLng(lat + half_deg, lng + half_deg),
            LatLng(lat + half_deg, lng - half_deg),
        )
    )


def s2sphere_covering(outline: PolygonOutline) -> list[int]:
    import s2sphere

    coverer = s2sphere.RegionCoverer()
    coverer.min_level = coverer.max_level = 13
    coverer.max_cells = 1_000_000
    lats = [v.lat_deg for v in outline.vertices]
    lngs = [v.lng_deg for v in outline.vertices]
    # s2sphere has no polygon region coverer: its best equivalent is the bounding rectangle.
    rect = s2sphere.LatLngRect.from_point_pair(
        s2sphere.LatLng.from_degrees(min(lats), min(lngs)),
        s2sphere.LatLng.from_degrees(max(lats), max(lngs)),
    )
    return [cell.id() for cell in coverer.get_covering(rect)]


def timed_ms(fn: object, arg: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn(arg)  # type: ignore[operator]
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    random.seed(7)
    try:
        import s2sphere  # noqa: F401
    except ImportError:
        sys.exit("s2sphere is not installed: pip install s2sphere")
    rows = []
    for label, half_deg in (
        ("0.3 km square", 0.0015),
        ("2 km square", 0.01),
        ("10 km square", 0.05),
    ):
        outline = square(half_deg)
        ours = percentiles(timed_ms(covering, outline, args.repeat))
        theirs = percentiles(timed_ms(s2sphere_covering, outline, args.repeat))
        cells = len(covering(outline))
        rows.append(
            (
                label,
                cells,
                f"{ours.p50:.3f}",
                f"{theirs.p50:.3f}",
                f"{theirs.p50 / ours.p50:.1f}x",
            )
        )
    circle = CircleOutline(LatLng(*CENTER), 500.0)
    circle_ms = percentiles(timed_ms(covering, circle, args.repeat))
    rows.append(("500 m circle", len(covering(circle)), f"{circle_ms.p50:.3f}", "-", "-"))
    print_table(
        "Level-13 S2 covering, p50 ms (baseline: s2sphere, pure Python)",
        ["outline", "cells", "s2geometry", "s2sphere", "s2sphere / s2geometry"],
        rows,
    )


if __name__ == "__main__":
    main()
