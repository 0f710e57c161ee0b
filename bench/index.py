"""FootprintIndex against a shapely STRtree, and against the dict-of-sets sketch, at 1k..1M.

Run: ``.venv/bin/python bench/index.py [--sizes 1000,100000,1000000] [--queries 2000]``

Intents: 1-2 km squares (their level-13 S2 covering: ~7 cells) spread uniformly over
200 km x 200 km around Camp Humphreys, 30-120 min windows over one day, altitude bands
(5% unbounded below, 5% above). Queries: 1 km squares, 1 h windows, 60 m bands.

Each size runs in a child process of its own, so that its memory figure (RSS delta) is
not flattered by memory that an earlier size freed. Latencies are per call, measured
with ``perf_counter_ns`` after a short warm-up, garbage collector on.
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import s2geometry as s2
import shapely
from rich.console import Console

from dronecoop.airspace.geo import EARTH_RADIUS_M
from dronecoop.airspace.index import FootprintIndex
from dronecoop.airspace.model import Footprint
from dronecoop.airspace.s2cells import S2_CELL_LEVEL

try:
    from bench.common import percentiles, print_table
except ModuleNotFoundError:  # run as a script: bench/ itself is sys.path[0]
    from common import percentiles, print_table  # type: ignore[no-redef,import-not-found]

console = Console(width=None if sys.stdout.isatty() else 200)

CENTRE_LAT_DEG, CENTRE_LNG_DEG = 36.96, 127.03
REGION_KM = 200.0
KM_PER_DEG_LAT = math.radians(1.0) * EARTH_RADIUS_M / 1000.0
DAY_START = datetime(2030, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
MINUTE_US = 60_000_000
WARMUP_QUERIES = 50
TIMED_WRITES = 2000
MIB = 1 << 20

Floats = npt.NDArray[np.float64]
T = TypeVar("T")


@dataclass
class Squares:
    """N squares with their S2 coverings, time windows and altitude bands, column-wise."""

    ids: list[str]
    cells: list[frozenset[int]]
    boxes: Floats  # (n, 4): lng_lo, lat_lo, lng_hi, lat_hi in degrees
    start_us: Floats
    end_us: Floats
    lower_m: Floats  # -inf: unbounded
    upper_m: Floats  # +inf: unbounded
    footprints: list[Footprint] = field(default_factory=list)

    def footprint(self, i: int) -> Footprint:
        lower, upper = float(self.lower_m[i]), float(self.upper_m[i])
        return Footprint(
            cells=self.cells[i],
            time_start=EPOCH + timedelta(microseconds=int(self.start_us[i])),
            time_end=EPOCH + timedelta(microseconds=int(self.end_us[i])),
            altitude_lower_w84_m=None if math.isinf(lower) else lower,
            altitude_upper_w84_m=None if math.isinf(upper) else upper,
        )


def _signed(cell_id: int) -> int:
    return cell_id - (1 << 64) if cell_id >= (1 << 63) else cell_id


def squares(
    n: int,
    rng: random.Random,
    *,
    prefix: str,
    side_km: tuple[float, float],
    minutes: tuple[int, int],
    band_m: tuple[float, float],
    unbounded: float,
) -> Squares:
    """``n`` random squares over the region (covered as S2 would cover a lat/lng rectangle)."""
    coverer = s2.S2RegionCoverer()
    coverer.set_min_level(S2_CELL_LEVEL)
    coverer.set_max_level(S2_CELL_LEVEL)
    coverer.set_max_cells(1000)
    from_degrees = s2.S2LatLng.FromDegrees
    half_region_lat = REGION_KM / 2 / KM_PER_DEG_LAT
    day_start_us = (DAY_START - EPOCH) // timedelta(microseconds=1)
    cells: list[frozenset[int]] = []
    boxes = np.empty((n, 4))
    start_us, end_us = np.empty(n), np.empty(n)
    lower_m, upper_m = np.empty(n), np.empty(n)
    for i in range(n):
        lat = CENTRE_LAT_DEG + rng.uniform(-half_region_lat, half_region_lat)
        km_per_deg_lng = KM_PER_DEG_LAT * math.cos(math.radians(lat))
        lng = CENTRE_LNG_DEG + rng.uniform(-1, 1) * REGION_KM / 2 / km_per_deg_lng
        half_km = rng.uniform(*side_km) / 2
        d_lat, d_lng = half_km / KM_PER_DEG_LAT, half_km / km_per_deg_lng
        rect = s2.S2LatLngRect(
            from_degrees(lat - d_lat, lng - d_lng), from_degrees(lat + d_lat, lng + d_lng)
        )
        cells.append(frozenset(_signed(cell.id()) for cell in coverer.GetCovering(rect)))
        boxes[i] = (lng - d_lng, lat - d_lat, lng + d_lng, lat + d_lat)
        duration_us = rng.randint(*minutes) * MINUTE_US
        start_us[i] = day_start_us + rng.randrange(DAY_US - duration_us)
        end_us[i] = start_us[i] + duration_us
        lower = rng.uniform(0.0, 150.0)
        upper = lower + rng.uniform(*band_m)
        lower_m[i] = -math.inf if rng.random() < unbounded else lower
        upper_m[i] = math.inf if rng.random() < unbounded else upper
    ids = [f"{prefix}-{rng.getrandbits(64):016x}" for _ in range(n)]
    return Squares(ids, cells, boxes, start_us, end_us, lower_m, upper_m)


def intents(n: int, rng: random.Random, prefix: str = "op") -> Squares:
    return squares(
        n,
        rng,
        prefix=prefix,
        side_km=(1.0, 2.0),
        minutes=(30, 120),
        band_m=(30, 120),
        unbounded=0.05,
    )


def queries(n: int, rng: random.Random) -> Squares:
    found = squares(
        n, rng, prefix="q", side_km=(1.0, 1.0), minutes=(60, 60), band_m=(60, 60), unbounded=0.0
    )
    found.footprints = [found.footprint(i) for i in range(n)]
    return found


class SetIndex:
    """The issue's sketch: cell -> set of ids, then plain comparisons per candidate."""

    def __init__(self) -> None:
        self.cells: dict[int, set[str]] = {}
        self.bounds: dict[str, tuple[float, float, float, float]] = {}

    def put(self, entity_id: str, cells: frozenset[int], bounds: tuple[float, ...]) -> None:
        self.bounds[entity_id] = (bounds[0], bounds[1], bounds[2], bounds[3])
        for cell in cells:
            self.cells.setdefault(cell, set()).add(entity_id)

    def query(
        self, cells: frozenset[int], start: float, end: float, lower: float, upper: float
    ) -> list[str]:
        empty: set[str] = set()
        get = self.cells.get
        bounds = self.bounds
        candidates = empty.union(*[get(cell, empty) for cell in cells])
        return sorted(
            [
                i
                for i in candidates
                if (b := bounds[i])[0] <= end and b[1] >= start and b[2] <= upper and b[3] >= lower
            ]
        )


class StrTreeBaseline:
    """shapely STRtree over the squares themselves: bbox query, then times and altitudes."""

    def __init__(self, data: Squares) -> None:
        self.tree = shapely.STRtree(shapely.box(*data.boxes.T))
        self.ids = data.ids
        self.start_us, self.end_us = data.start_us, data.end_us
        self.lower_m, self.upper_m = data.lower_m, data.upper_m

    def query(
        self, box: shapely.Geometry, start: float, end: float, lower: float, upper: float
    ) -> list[str]:
        at = self.tree.query(box)
        keep = at[
            (self.start_us[at] <= end)
            & (self.end_us[at] >= start)
            & (self.lower_m[at] <= upper)
            & (self.upper_m[at] >= lower)
        ]
        ids = self.ids
        return sorted([ids[i] for i in keep.tolist()])


def rss_bytes() -> int:
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    import resource  # not Linux: peak RSS is the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def built(build: Callable[[], T]) -> tuple[T, float, float]:
    """``build()``, its wall time in s and the RSS it added in MiB."""
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter_ns()
    value = build()
    elapsed_s = (time.perf_counter_ns() - started) / 1e9
    gc.collect()
    return value, elapsed_s, (rss_bytes() - before) / MIB


def timed_together(
    calls: Sequence[Callable[[int], T]], count: int, warmup: int = 0
) -> tuple[list[list[float]], list[list[T]]]:
    """Latencies in us of each of ``calls`` on ``i`` in ``warmup..warmup+count``, and results.

    The calls take turns on each ``i``; every one is warmed up on ``0..warmup`` first.
    """
    for i in range(warmup):
        for call in calls:
            call(i)
    samples: list[list[float]] = [[] for _ in calls]
    results: list[list[T]] = [[] for _ in calls]
    clock = time.perf_counter_ns
    for i in range(warmup, warmup + count):
        for k, call in enumerate(calls):
            started = clock()
            result = call(i)
            samples[k].append((clock() - started) / 1000)
            results[k].append(result)
    return samples, results


def timed(call: Callable[[int], object], count: int, warmup: int = 0) -> list[float]:
    """Latencies in us of ``call(i)`` for ``i`` in ``warmup..warmup+count``."""
    return timed_together([call], count, warmup)[0][0]


def us(value: float) -> str:
    return f"{value:,.1f}"


def run_size(size: int, query_count: int, seed: int, with_sets: bool) -> dict[str, list[list[str]]]:
    """Every measurement at one size; rows for the printed tables."""
    rng = random.Random(seed)
    started = time.perf_counter()
    data = intents(size, rng)
    # One query set per structure: none is timed on caches another has just warmed.
    probes, tree_probes, sets_probes = (
        queries(query_count + WARMUP_QUERIES, rng) for _ in range(3)
    )
    extra = intents(TIMED_WRITES, rng, prefix="new")
    extra.footprints = [extra.footprint(i) for i in range(TIMED_WRITES)]
    cells_per_intent = sum(map(len, data.cells)) / size
    console.log(f"{size:,} intents generated in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    footprints = [data.footprint(i) for i in range(size)]
    footprints_s = time.perf_counter() - started

    index, index_s, index_mib = built(lambda: _build_index(data.ids, footprints))
    tree, tree_s, tree_mib = built(lambda: StrTreeBaseline(data))
    tree_boxes = shapely.box(*tree_probes.boxes.T)
    tree_windows, sets_windows = (
        [_window(q, i) for i in range(len(q.ids))] for q in (tree_probes, sets_probes)
    )

    contenders: list[tuple[str, float, float, Callable[[int], list[str]]]] = [
        ("FootprintIndex", index_s, index_mib, lambda i: index.query(probes.footprints[i])),
        (
            "shapely STRtree",
            tree_s,
            tree_mib,
            lambda i: tree.query(tree_boxes[i], *tree_windows[i]),
        ),
    ]
    if with_sets:
        sets, sets_s, sets_mib = built(lambda: _build_sets(data))
        contenders.append(
            (
                "dict of sets (issue sketch)",
                sets_s,
                sets_mib,
                lambda i: sets.query(sets_probes.cells[i], *sets_windows[i]),
            )
        )
    load = os.getloadavg()[0]
    # Interleaved query by query, so that a burst of load elsewhere hits all alike.
    latencies, found = timed_together(
        [query for *_, query in contenders], query_count, WARMUP_QUERIES
    )
    if with_sets:
        # Same cells, same rule: the index must agree with the scan on every query.
        for i, ids in enumerate(found[0], start=WARMUP_QUERIES):
            assert ids == sets.query(probes.cells[i], *_window(probes, i)), "index != scan"
        del sets
    rows = [
        (name, build_s, mib, latencies[k], found[k])
        for k, (name, build_s, mib, _) in enumerate(contenders)
    ]

    tree_p50 = percentiles(latencies[1]).p50
    structures = []
    for name, build_s, mib, samples, hits in rows:
        p = percentiles(samples)
        results = sum(map(len, hits)) / query_count
        structures.append(
            [
                f"{size:,}",
                name,
                f"{build_s:.2f}",
                f"{mib:,.0f}",
                us(p.p50),
                us(p.p95),
                us(p.p99),
                f"{results:.1f}",
                f"{p.p50 / tree_p50:.2f}",
            ]
        )

    operations = [
        [
            "footprints for the builds",
            "",
            "",
            "",
            f"{footprints_s:.2f} s to make {size:,} Footprint objects (not in build times)",
        ],
        *_index_operations(index, data.ids, footprints, probes, extra, query_count, index_s),
    ]
    populated = len(index._cells)  # private: a bench may look inside
    density = size * cells_per_intent / populated
    structures[0][1] += f" ({cells_per_intent:.1f} cells/intent, {density:.0f} intents/cell)"
    load = max(load, os.getloadavg()[0])
    return {
        "structures": structures,
        "operations": [[f"{size:,}", *row] for row in operations],
        "load": [[f"{size:,}", f"{load:.1f}", ""]],
    }


def _window(probes: Squares, i: int) -> tuple[float, float, float, float]:
    """Start, end, lower, upper of query ``i``, for the baselines."""
    return (
        float(probes.start_us[i]),
        float(probes.end_us[i]),
        float(probes.lower_m[i]),
        float(probes.upper_m[i]),
    )


def _build_index(ids: list[str], footprints: list[Footprint]) -> FootprintIndex:
    index = FootprintIndex()
    for entity_id, footprint in zip(ids, footprints, strict=True):
        index.put(entity_id, footprint)
    return index


def _build_sets(data: Squares) -> SetIndex:
    sets = SetIndex()
    for i, entity_id in enumerate(data.ids):
        bounds = (data.start_us[i], data.end_us[i], data.lower_m[i], data.upper_m[i])
        sets.put(entity_id, data.cells[i], tuple(map(float, bounds)))
    return sets


def _index_operations(
    index: FootprintIndex,
    ids: list[str],
    footprints: list[Footprint],
    probes: Squares,
    extra: Squares,
    query_count: int,
    put_loop_s: float,
) -> list[list[str]]:
    """Writes, lock cost, copy-on-write cost, queries beside a writer, expiry."""
    rows: list[list[str]] = []

    def add(name: str, latencies: Sequence[float], note: str = "") -> None:
        p = percentiles(latencies)
        rows.append([name, us(p.p50), us(p.p95), us(p.p99), note])

    new_ids, new_fps = extra.ids, extra.footprints
    items = zip(ids, footprints, strict=True)
    bulk, bulk_s, bulk_mib = built(lambda: FootprintIndex.from_items(items))
    sample = probes.footprints[:200]
    assert [bulk.query(q) for q in sample] == [index.query(q) for q in sample]
    del bulk
    rows.append(
        [
            "from_items (bulk build)",
            "",
            "",
            "",
            f"{bulk_s:.2f} s, RSS +{bulk_mib:,.0f} MiB (put loop: {put_loop_s:.2f} s)",
        ]
    )
    gc.collect()
    add("put (new id)", timed(lambda i: index.put(new_ids[i], new_fps[i]), TIMED_WRITES))
    moved = [footprints[i % len(footprints)] for i in range(TIMED_WRITES)]
    add("put (replace, new area)", timed(lambda i: index.put(new_ids[i], moved[i]), TIMED_WRITES))
    add("remove", timed(lambda i: index.remove(new_ids[i]), TIMED_WRITES))

    # What a put would cost if buckets were copy-on-write instead of locked: one copy of
    # every bucket it joins (the copy alone, nothing else of the put).
    buckets = index._cells  # private: a bench may look inside
    column = np.zeros((5, 1))

    def copy_buckets(i: int) -> None:
        for cell in new_fps[i].cells:
            bucket = buckets.get(cell)
            if bucket is not None:
                np.concatenate((bucket.view(), column), axis=1)

    add(
        "copy-on-write bucket copies of one put",
        timed(copy_buckets, TIMED_WRITES),
        "not done: measured for the design choice",
    )
    lock = threading.Lock()

    def lock_cycle(_: int) -> None:
        with lock:
            pass

    add(
        "lock acquire + release (in every call)",
        timed(lock_cycle, TIMED_WRITES),
        "incl. ~0.1 us timer overhead",
    )

    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            index.put(new_ids[n % TIMED_WRITES], new_fps[n % TIMED_WRITES])
            index.remove(new_ids[(n + TIMED_WRITES // 2) % TIMED_WRITES])
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        latencies = timed(lambda i: index.query(probes.footprints[i]), query_count, WARMUP_QUERIES)
    finally:
        stop.set()
        thread.join()
    add(
        "query while a thread puts non-stop",
        latencies,
        f"tail = waits for the GIL (switch interval {sys.getswitchinterval() * 1000:.0f} ms)",
    )
    for entity_id in new_ids:
        index.remove(entity_id)

    cutoff = DAY_START + timedelta(hours=1)
    gc.collect()
    before = len(index)
    started = time.perf_counter_ns()
    expired = index.expire(cutoff)
    elapsed_us = (time.perf_counter_ns() - started) / 1000
    per = elapsed_us / max(len(expired), 1)
    rows.append(
        [
            "expire (ended before 01:00)",
            "",
            "",
            "",
            f"{elapsed_us / 1000:,.1f} ms for {len(expired):,} of {before:,}: {per:.1f} us each",
        ]
    )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default="1000,100000,1000000", help="comma-separated intent counts"
    )
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-sets", action="store_true", help="skip the dict-of-sets sketch")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]

    structures: list[list[str]] = []
    operations: list[list[str]] = []
    loads: list[list[str]] = []
    context = multiprocessing.get_context("fork")
    for size in sizes:
        with context.Pool(1) as pool:
            result = pool.apply(run_size, (size, args.queries, args.seed, not args.no_sets))
        structures += result["structures"]
        operations += result["operations"]
        loads += result["load"]

    print_table(
        f"4D query latency, {args.queries:,} queries (1 km square, 1 h, 60 m band) per size",
        [
            "intents",
            "structure",
            "build s",
            "RSS MiB",
            "p50 us",
            "p95 us",
            "p99 us",
            "hits/query",
            "p50 / STRtree",
        ],
        structures,
        caption=(
            "FootprintIndex and dict of sets answer on S2 cells (what the DSS stores); STRtree on"
            " the exact squares, hence fewer hits. FootprintIndex build = a put() each;"
            " RSS MiB = resident memory added by the build. 1-min load average while timing"
            f" ({os.cpu_count()} CPUs): " + ", ".join(f"{size}: {load}" for size, load, _ in loads)
        ),
        console=console,
    )
    print_table(
        "FootprintIndex writes and concurrency",
        ["intents", "operation", "p50 us", "p95 us", "p99 us", "note"],
        operations,
        console=console,
    )


if __name__ == "__main__":
    main()
