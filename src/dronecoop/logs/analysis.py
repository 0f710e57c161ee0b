"""From a log's signals to its flights and health findings (pure: arrays in, data out).

Thresholds are those the field uses, cited where they are applied:
- ArduPilot wiki, "Measuring Vibration": VIBE below 30 m/s/s is fine, above 30 may cause
  problems, above 60 nearly always does; clipping should stay 0 (under 100 tolerable).
- PX4 Flight Review: accel vibration metric green < 4.905, orange < 9.81, red above (m/s/s).
- GPS: fewer than 6 satellites, HDOP above 3: warnings; PX4 jamming indicator >= 80: too high.
- Battery: under 3.3 V per cell under load is a brownout risk (cells counted from 4.2 V full).
- Estimator: innovation test ratios (PX4 estimator_status, ArduPilot XKF4/NKF4, MAVLink
  EKF_STATUS_REPORT) above 0.5 orange and above 0.8 red, as Mission Planner's EKF status
  shows them; above 1 the filter rejects the measurement.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dronecoop.logs import model as m
from dronecoop.logs.model import Array, Finding, LogData, LogFlight, LogReport, Severity, Signal

AIRBORNE_ALT_M = 1.0  # above the take-off altitude: airborne, when no landed flag is logged
VIBE_WARN, VIBE_CRIT = 30.0, 60.0
CLIP_WARN, CLIP_CRIT = 1.0, 100.0
PX4_VIBE_WARN, PX4_VIBE_CRIT = 4.905, 9.81
SATS_MIN, HDOP_MAX, JAMMING_MAX = 6.0, 3.0, 80.0
EKF_WARN, EKF_CRIT = 0.5, 0.8
CELL_FULL_V, CELL_FULL_HV_V, CELL_BROWNOUT_V = 4.2, 4.35, 3.3
EARTH_RADIUS_M = 6_371_008.8
SUSTAINED_S = 2.0  # a finding needs its condition to hold this long (one spike is noise)


def analyse(data: LogData, *, sha256: str = "", size_bytes: int = 0) -> LogReport:
    flights = find_flights(data)
    findings = (
        _vibration(data, flights)
        + _clipping(data)
        + _px4_vibration(data, flights)
        + _gps(data, flights)
        + _battery(data, flights)
        + _estimator(data, flights)
    )
    return LogReport(
        format=data.format,
        sha256=sha256,
        size_bytes=size_bytes,
        start_utc=data.start_utc,
        duration_s=data.duration_s,
        vehicle=data.vehicle,
        firmware=data.firmware,
        flights=flights,
        findings=sorted(findings, key=lambda f: (f.start_s, f.code)),
        lifetime_flight_s=lifetime_flight_s(data.parameters),
        warnings=data.warnings,
        parameters=data.parameters,
        parameter_changes=data.parameter_changes,
    )


def lifetime_flight_s(parameters: dict[str, float]) -> float | None:
    """PX4 counts the vehicle's whole flight time in LND_FLIGHT_T_HI/LO (microseconds,
    the high and low 32 bits)."""
    if "LND_FLIGHT_T_HI" not in parameters or "LND_FLIGHT_T_LO" not in parameters:
        return None
    high = int(parameters["LND_FLIGHT_T_HI"]) & 0xFFFFFFFF
    low = int(parameters["LND_FLIGHT_T_LO"]) & 0xFFFFFFFF
    return ((high << 32) | low) / 1e6


def find_flights(data: LogData) -> list[LogFlight]:
    """One flight per arm-to-disarm interval (an arming still open at the end of the log
    ends with the log)."""
    armed = data.signals.get(m.ARMED)
    if armed is None or not len(armed.t):
        return []
    intervals = _true_intervals(armed.t, armed.v > 0.5, data.duration_s)
    return [_flight(data, i, a, b) for i, (a, b) in enumerate(intervals)]


def _flight(data: LogData, index: int, a: float, b: float) -> LogFlight:
    airborne_s, takeoffs = _airborne(data, a, b)
    rel = _altitude_above_takeoff(data, a, b)
    lat, lon = _window(data, m.LAT, a, b), _window(data, m.LON, a, b)
    distance = None
    if lat is not None and lon is not None and len(lat.v) == len(lon.v) and len(lat.v) > 1:
        distance = float(np.sum(_haversine(lat.v[:-1], lon.v[:-1], lat.v[1:], lon.v[1:])))
    volts = _window(data, m.VOLTAGE, a, b)
    used = _window(data, m.CONSUMED, a, b)
    consumed = None
    if used is not None and len(used.v) > 1:
        consumed = float(used.v[-1] - used.v[0])
    else:
        current = _window(data, m.CURRENT, a, b)
        if current is not None and len(current.v) > 1:
            consumed = float(np.trapezoid(current.v, current.t) / 3.6)  # A·s -> mAh
    return LogFlight(
        index=index,
        armed_s=a,
        disarmed_s=b,
        airborne_s=airborne_s,
        takeoffs=takeoffs,
        max_alt_rel_m=None if rel is None else float(np.max(rel)),
        distance_m=distance,
        min_voltage_v=None if volts is None or not len(volts.v) else float(np.min(volts.v)),
        consumed_mah=consumed,
    )


def _airborne(data: LogData, a: float, b: float) -> tuple[float, int]:
    """Time in the air between ``a`` and ``b``, and take-offs: from the autopilot's landed
    flag where it logs one, else from altitude above the take-off point."""
    landed = data.signals.get(m.LANDED)
    if landed is not None and len(landed.t):
        flying = landed.v < 0.5
        t = landed.t
    else:
        rel = _altitude_above_takeoff(data, a, b)
        window = _window(data, m.ALT_REL, a, b) or _window(data, m.ALT_AMSL, a, b)
        if rel is None or window is None:
            return 0.0, 0
        flying = rel > AIRBORNE_ALT_M
        t = window.t
    total, takeoffs = 0.0, 0
    for start, end in _true_intervals(t, flying, b):
        start, end = max(start, a), min(end, b)
        if end > start:
            total += end - start
            takeoffs += 1
    return total, takeoffs


def _altitude_above_takeoff(data: LogData, a: float, b: float) -> Array | None:
    window = _window(data, m.ALT_REL, a, b) or _window(data, m.ALT_AMSL, a, b)
    if window is None or not len(window.v):
        return None
    rel: Array = window.v - window.v[0]
    return rel


def _window(data: LogData, name: str, a: float, b: float) -> Signal | None:
    signal = data.signals.get(name)
    if signal is None:
        return None
    keep = (signal.t >= a) & (signal.t <= b)
    if not np.any(keep):
        return None
    return Signal(signal.t[keep], signal.v[keep], signal.source)


def _true_intervals(t: Array, flag: Any, end: float) -> list[tuple[float, float]]:
    """Where ``flag`` holds, as [start, end) intervals of ``t`` (the last may run to ``end``)."""
    flag = np.asarray(flag, dtype=bool)
    if not len(flag):
        return []
    edges = np.diff(flag.astype(np.int8))
    starts = [int(i) + 1 for i in np.nonzero(edges == 1)[0]]
    stops = [int(i) + 1 for i in np.nonzero(edges == -1)[0]]
    if flag[0]:
        starts.insert(0, 0)
    intervals = []
    for i, s in enumerate(starts):
        stop = stops[i] if i < len(stops) else None
        intervals.append(
            (float(t[s]), float(t[stop]) if stop is not None else max(end, float(t[-1])))
        )
    return intervals


def _haversine(lat1: Array, lon1: Array, lat2: Array, lon2: Array) -> Array:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    distance: Array = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    return distance


def _in_flight(signal: Signal, flights: list[LogFlight]) -> Signal:
    """The part of ``signal`` while armed (all of it if the log has no arming)."""
    if not flights:
        return signal
    keep = np.zeros(len(signal.t), dtype=bool)
    for f in flights:
        keep |= (signal.t >= f.armed_s) & (signal.t <= f.disarmed_s)
    return Signal(signal.t[keep], signal.v[keep], signal.source)


def _exceeding(
    signal: Signal,
    above: float,
    *,
    below: bool = False,
    flights: list[LogFlight] | None = None,
) -> list[tuple[float, float]]:
    """Intervals (at least SUSTAINED_S long) where the signal is above (or below) a line,
    found within each flight on its own (never across the gap between two flights)."""
    windows = [(f.armed_s, f.disarmed_s) for f in flights] if flights else [(-math.inf, math.inf)]
    found: list[tuple[float, float]] = []
    for start, end in windows:
        keep = (signal.t >= start) & (signal.t <= end)
        t, v = signal.t[keep], signal.v[keep]
        if not len(t):
            continue
        flag = v < above if below else v > above
        found += [(a, b) for a, b in _true_intervals(t, flag, float(t[-1])) if b - a >= SUSTAINED_S]
    return found


def _vibration(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    found = []
    for name in m.VIBE:
        raw = data.signals.get(name)
        if raw is None or not len(raw.v):
            continue
        signal = _in_flight(raw, flights)
        if not len(signal.v):
            continue
        p95 = float(np.percentile(signal.v, 95))
        ranges = _exceeding(signal, VIBE_WARN, flights=flights)
        if p95 <= VIBE_WARN and not ranges:
            continue
        severity = Severity.CRITICAL if p95 > VIBE_CRIT else Severity.WARNING
        found.append(
            Finding(
                code=f"vibration.{name[-1]}",
                severity=severity,
                start_s=ranges[0][0] if ranges else float(signal.t[0]),
                end_s=ranges[-1][1] if ranges else float(signal.t[-1]),
                summary=f"{name[-1].upper()} vibration p95 {p95:.1f} m/s², above the "
                f"{VIBE_WARN:.0f} m/s² line for {sum(b - a for a, b in ranges):.0f} s",
                evidence={
                    "source": signal.source,
                    "p95": p95,
                    "max": float(np.max(signal.v)),
                    "ranges_s": ranges[:20],
                },
                threshold="ArduPilot: VIBE < 30 m/s² fine, > 30 may cause problems, > 60 "
                "nearly always does",
            )
        )
    return found


def _clipping(data: LogData) -> list[Finding]:
    found = []
    for name in m.CLIP:
        signal = data.signals.get(name)
        if signal is None or len(signal.v) < 2:
            continue
        steps = np.diff(signal.v)
        clips = float(np.sum(steps[steps > 0]))  # cumulative counters, reset by a reboot
        if clips < CLIP_WARN:
            continue
        rising = np.nonzero(np.diff(signal.v) > 0)[0]
        found.append(
            Finding(
                code=f"vibration.clipping_{name[-1]}",
                severity=Severity.CRITICAL if clips >= CLIP_CRIT else Severity.WARNING,
                start_s=float(signal.t[rising[0] + 1]),
                end_s=float(signal.t[rising[-1] + 1]),
                summary=f"accelerometer {name[-1]} clipped {clips:.0f} times",
                evidence={"source": signal.source, "clips": clips},
                threshold="ArduPilot: clipping should stay 0 (under 100 tolerable)",
            )
        )
    return found


def _px4_vibration(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    raw = data.signals.get(m.PX4_VIBE)
    if raw is None or not len(raw.v):
        return []
    signal = _in_flight(raw, flights)
    if not len(signal.v):
        return []
    p95 = float(np.percentile(signal.v, 95))
    if p95 < PX4_VIBE_WARN:
        return []
    return [
        Finding(
            code="vibration.px4_metric",
            severity=Severity.CRITICAL if p95 >= PX4_VIBE_CRIT else Severity.WARNING,
            start_s=float(signal.t[0]),
            end_s=float(signal.t[-1]),
            summary=f"accel vibration metric p95 {p95:.2f} m/s²",
            evidence={"source": signal.source, "p95": p95, "max": float(np.max(signal.v))},
            threshold="PX4 Flight Review: green < 4.905, orange < 9.81, red above (m/s²)",
        )
    ]


def _gps(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    found = []
    checks = (
        (m.SATS, SATS_MIN, True, "gps.satellites", "fewer than 6 satellites", "satellites < 6"),
        (m.HDOP, HDOP_MAX, False, "gps.hdop", "HDOP above 3", "HDOP > 3"),
        (
            m.JAMMING,
            JAMMING_MAX - 1,
            False,
            "gps.jamming",
            "jamming indicator >= 80",
            "PX4 jamming >= 80",
        ),
    )
    for name, line, below, code, what, rule in checks:
        raw = data.signals.get(name)
        if raw is None:
            continue
        signal = _in_flight(raw, flights)
        ranges = _exceeding(signal, line, below=below, flights=flights)
        if not ranges:
            continue
        found.append(
            Finding(
                code=code,
                severity=Severity.WARNING,
                start_s=ranges[0][0],
                end_s=ranges[-1][1],
                summary=f"{what} for {sum(b - a for a, b in ranges):.0f} s",
                evidence={"source": signal.source, "ranges_s": ranges[:20]},
                threshold=f"field practice: {rule} is a warning",
            )
        )
    return found


def _estimator(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    found = []
    for name in m.EKF:
        raw = data.signals.get(name)
        if raw is None or not len(raw.v):
            continue
        signal = _in_flight(raw, flights)
        ranges = _exceeding(signal, EKF_WARN, flights=flights)
        if not ranges:
            continue
        red = _exceeding(signal, EKF_CRIT, flights=flights)
        found.append(
            Finding(
                code=f"estimator.{name.removeprefix('ekf_')}",
                severity=Severity.CRITICAL if red else Severity.WARNING,
                start_s=ranges[0][0],
                end_s=ranges[-1][1],
                summary=f"{name.removeprefix('ekf_')} innovation test ratio above "
                f"{EKF_WARN} for {sum(b - a for a, b in ranges):.0f} s "
                f"(max {float(np.max(signal.v)):.2f})",
                evidence={"source": signal.source, "ranges_s": ranges[:20]},
                threshold="Mission Planner EKF status: > 0.5 orange, > 0.8 red; > 1 rejects "
                "the measurement",
            )
        )
    return found


def battery_cells(data: LogData) -> int | None:
    """The pack's cell count: PX4's BAT1_N_CELLS / BAT_N_CELLS if set, else from its highest
    voltage, allowing for LiHV packs (4.35 V a cell full)."""
    for name in ("BAT1_N_CELLS", "BAT_N_CELLS"):
        if data.parameters.get(name, 0) > 0:
            return int(data.parameters[name])
    volts = data.signals.get(m.VOLTAGE)
    if volts is None or not len(volts.v) or float(np.max(volts.v)) <= 0:
        return None
    return max(1, math.ceil(float(np.max(volts.v)) / CELL_FULL_HV_V))


def _battery(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    raw = data.signals.get(m.VOLTAGE)
    cells = battery_cells(data)
    if raw is None or not len(raw.v) or cells is None:
        return []
    signal = _in_flight(raw, flights)
    per_cell = Signal(signal.t, signal.v / cells, signal.source)
    ranges = _exceeding(per_cell, CELL_BROWNOUT_V, below=True, flights=flights)
    if not ranges:
        return []
    low = float(np.min(signal.v))
    return [
        Finding(
            code="battery.sag",
            severity=Severity.CRITICAL,
            start_s=ranges[0][0],
            end_s=ranges[-1][1],
            summary=f"{cells}S pack down to {low:.2f} V ({low / cells:.2f} V per cell) while armed",
            evidence={
                "source": signal.source,
                "cells": cells,
                "min_v": low,
                "ranges_s": ranges[:20],
            },
            threshold="under 3.3 V per cell under load is a brownout risk",
        )
    ]
