"""Regressions for what a review of this session's code found (each failed before its fix)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from shapely.geometry import Point, Polygon

from dronecoop.airspace.geo import PolygonOutline
from dronecoop.logs.analysis import analyse, battery_cells
from dronecoop.logs.fast_tlog import read_tlog_fast
from dronecoop.logs.model import LogData, LogFormat, Signal
from dronecoop.mro.due import DueStatus, Task, Usage, due_item, soonest_first
from dronecoop.planning.area import MAX_EDGE_DEG, area_of_interest
from dronecoop.planning.geojson import mission_from_waypoints
from dronecoop.planning.volumes import trajectory, volumes
from tests.conftest import shared_file

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_the_area_of_interest_holds_a_long_route_at_high_latitude() -> None:
    route = [(60.0, 10.0 + 0.1 * i, 80.0) for i in range(12)]  # ~60 km east at 60°N
    ours = volumes(
        trajectory(mission_from_waypoints(route), start=T0, ground_speed_mps=30.0,
                   home_altitude_amsl_m=10.0)
    )  # fmt: skip
    area = area_of_interest(ours)
    assert isinstance(area.outline, PolygonOutline)
    ring = [(v.lng_deg, v.lat_deg) for v in area.outline.vertices]
    shape = Polygon(ring)
    for volume in ours:
        assert isinstance(volume.outline, PolygonOutline)
        for v in volume.outline.vertices:
            assert shape.covers(Point(v.lng_deg, v.lat_deg))
    edges = zip(ring, ring[1:] + ring[:1], strict=True)
    assert max(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in edges) <= MAX_EDGE_DEG + 1e-9


def test_a_tlog_cut_inside_a_mavlink2_header_is_read_up_to_there(tmp_path: Path) -> None:
    data = shared_file("data/logs/vtol.tlog").read_bytes()
    cut = tmp_path / "cut.tlog"
    cut.write_bytes(data + bytes(8) + b"\xfd" + bytes(8))  # 17 bytes: a v2 header cut short
    assert read_tlog_fast(cut).signals


def _log(**signals: tuple[list[float], list[float]]) -> LogData:
    return LogData(
        LogFormat.TLOG,
        {k: Signal(np.array(t, float), np.array(v, float), k) for k, (t, v) in signals.items()},
        duration_s=4000.0,
    )


def test_clipping_survives_a_reboot_and_findings_stay_inside_each_flight() -> None:
    clip = _log(clip_0=([0, 1, 2, 3], [0, 400, 0, 2]))
    [finding] = analyse(clip).findings
    assert finding.evidence["clips"] == 402
    armed = ([0, 100, 3600, 3700], [1, 0, 1, 0])  # two flights, an hour apart
    sats = ([0, 50, 99.5, 3600, 3650, 3699], [10, 10, 4, 10, 10, 10])
    report = analyse(_log(armed=armed, gps_sats=sats))
    assert [f for f in report.findings if f.code == "gps.satellites"] == []  # one sample, no gap


def test_a_lihv_pack_is_counted_right() -> None:
    assert battery_cells(_log(battery_v=([0, 1], [17.4, 16.0]))) == 4  # 4S LiHV, not 5S
    assert battery_cells(_log(battery_v=([0, 1], [12.45, 11.0]))) == 3
    px4 = LogData(LogFormat.ULOG, {}, parameters={"BAT1_N_CELLS": 6.0})
    assert battery_cells(px4) == 6


def test_a_long_overdue_task_tops_the_due_list() -> None:
    slow = Usage(T0, 110.0, 0, hours_per_day=1 / 60 / 90, cycles_per_day=0.0)
    overdue = due_item(Task("A", "hours", hours=100), None, slow, T0)
    yearly = due_item(Task("B", "year", days=365), None, slow, T0)
    assert overdue.status is DueStatus.RED
    assert overdue.forecast is not None
    assert overdue.forecast < T0
    assert [i.task.code for i in soonest_first([yearly, overdue])] == ["A", "B"]
    assert yearly.forecast == T0 + timedelta(days=365)
