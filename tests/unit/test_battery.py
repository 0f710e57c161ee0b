"""Battery internal resistance from a real log's sag under load, and a battery's state of
health from the logs flown with it."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from dronecoop.fleet.batteries import battery_health
from dronecoop.fleet.components import Installation
from dronecoop.fleet.model import StoredLog
from dronecoop.logs import model as m
from dronecoop.logs.analysis import analyse
from dronecoop.logs.model import LogData, ParameterTrail, Severity, Signal
from dronecoop.logs.readers import read_log
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def quad() -> LogData:
    return read_log(shared_file("data/logs/flight.tlog"))  # 3S pack, 12.45 -> 8.48 V


def _resistance(data: LogData) -> list[object]:
    return [f for f in analyse(data).findings if f.code == "battery.resistance"]


def test_the_real_pack_resistance_is_read_off_its_sag(quad: LogData) -> None:
    [finding] = _resistance(quad)
    assert finding.evidence["cells"] == 3  # type: ignore[attr-defined]
    assert 40 < finding.evidence["pack_mohm"] < 80  # type: ignore[attr-defined]
    assert finding.evidence["windows"] >= 10  # type: ignore[attr-defined]
    assert finding.evidence["sources"] == [  # type: ignore[attr-defined]
        "SYS_STATUS.voltage_battery",
        "SYS_STATUS.current_battery",
    ]
    assert finding.severity is Severity.INFO  # type: ignore[attr-defined]  # < 20 mΩ a cell


def test_a_pack_that_sags_more_is_worn(quad: LogData) -> None:
    volts, amps = quad.signals[m.VOLTAGE], quad.signals[m.CURRENT]
    extra = 0.040 * np.interp(volts.t, amps.t, amps.v)  # 40 mΩ more in series
    worn = dataclasses.replace(
        quad, signals=quad.signals | {m.VOLTAGE: Signal(volts.t, volts.v - extra, volts.source)}
    )
    [before] = _resistance(quad)
    [after] = _resistance(worn)
    grew = after.evidence["pack_mohm"] - before.evidence["pack_mohm"]  # type: ignore[attr-defined]
    assert grew == pytest.approx(40, abs=8)
    assert after.severity is Severity.WARNING  # type: ignore[attr-defined]
    assert "worn" in after.summary  # type: ignore[attr-defined]


def test_a_voltage_that_does_not_follow_the_load_gives_no_estimate(quad: LogData) -> None:
    volts = quad.signals[m.VOLTAGE]
    steady = Signal(volts.t, np.full(len(volts.t), 11.1), volts.source)
    assert _resistance(dataclasses.replace(quad, signals=quad.signals | {m.VOLTAGE: steady})) == []


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _log(sha: str, days: int, pack: float | None, aircraft: str = "A1") -> StoredLog:
    findings = (
        []
        if pack is None
        else [
            {"code": "battery.resistance", "evidence": {"pack_mohm": pack, "cell_mohm": pack / 3}}
        ]
    )
    return StoredLog(
        sha256=sha, partner="p", aircraft_id=aircraft, filename=sha, format="tlog",
        size_bytes=1, start_utc=None, airborne_s=60.0, cycles=1,
        report={"findings": findings}, ingested_at=T0 + timedelta(days=days),
    )  # fmt: skip


def test_state_of_health_falls_as_resistance_grows_towards_double() -> None:
    spells = [
        Installation("B1", "A1", "bay", None, T0, 0.0, 0, T0 + timedelta(days=10), 1.0, 5),
        Installation("B1", "A2", "bay", None, T0 + timedelta(days=20), 0.0, 0),
        Installation("B9", "A1", "bay", None, T0 + timedelta(days=10), 1.0, 5),  # another pack
    ]
    logs = {
        "A1": [
            _log("a", 1, 50.0),
            _log("b", 5, None),  # no estimate in this one
            _log("c", 15, 90.0),  # flown after B1 came out: B9's
        ],
        "A2": [_log("d", 25, 75.0, "A2"), _log("e", 19, 60.0, "A2")],  # e: before it went in
    }
    health = battery_health("B1", spells, logs)
    assert [r.log_sha256 for r in health.readings] == ["a", "d"]
    assert health.baseline_mohm == 50.0
    assert health.latest_mohm == 75.0
    assert health.state_of_health_pct == pytest.approx(50.0)  # half way to double
    assert battery_health("B9", spells, logs).state_of_health_pct == 100.0  # one reading
    assert battery_health("B2", spells, logs).state_of_health_pct is None  # never fitted
    doubled = {"A1": [_log("a", 1, 50.0), _log("x", 2, 130.0)]}
    assert battery_health("B1", spells, doubled).state_of_health_pct == 0.0


def test_a_damaged_time_stamp_far_in_the_future_costs_nothing(quad: LogData) -> None:
    armed = quad.signals[m.ARMED]
    stamps = armed.t.copy()
    stamps[-1] += 2.0**48  # a record stamp is outside the CRC: a bit flip can do this
    damaged = dataclasses.replace(
        quad, signals=quad.signals | {m.ARMED: Signal(stamps, armed.v, armed.source)}
    )
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(analyse(damaged)), daemon=True)
    worker.start()
    worker.join(120)  # a hang guard, not a speed test: the windows are the samples'
    assert done, "the analysis of a log with one damaged time stamp did not finish"


def test_damaged_numbers_are_left_out_not_fatal(quad: LogData) -> None:
    volts, amps = quad.signals[m.VOLTAGE], quad.signals[m.CURRENT]
    bad_amps = amps.v.copy()
    bad_amps[100] = np.nan
    damaged = dataclasses.replace(
        quad,
        signals=quad.signals | {m.CURRENT: Signal(amps.t, bad_amps, amps.source)},
        parameters=quad.parameters | {"SERVO1_FUNCTION": float("nan"), "FRAME_CLASS": np.inf},
    )
    [finding] = _resistance(damaged)
    assert np.isfinite(finding.evidence["pack_mohm"])  # type: ignore[attr-defined]
    assert volts.source == "SYS_STATUS.voltage_battery"
    trail = ParameterTrail()
    trail.add(0.0, "X", float("nan"))
    assert trail.initial == {}
