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
- Battery internal resistance: estimated from the sag under load (the slope of voltage
  against current over 20 s windows of flight, where the current swings by 5 A or more
  and the two correlate); it includes wiring and connectors. Charger IR meters' practice:
  a LiPo cell of a few mΩ is new, above 20 mΩ per cell it is worn.
- Motors: ArduCopter's thrust-loss check (``crash_check.cpp``) treats motors held at 90 %
  or more of their output for 1 s as out of thrust margin; its default ``MOT_SPIN_MAX``
  (0.95) is where thrust saturates. ArduPilot's LogAnalyzer motor-balance test: a spread
  of more than 75 µs between the motors' average outputs in flight is a warning, more
  than 150 µs a failure (7.5 % / 15 % of a 1000-2000 µs range).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dronecoop.logs import model as m
from dronecoop.logs.model import (
    Array,
    Finding,
    LogData,
    LogFlight,
    LogFormat,
    LogReport,
    Severity,
    Signal,
)

AIRBORNE_ALT_M = 1.0  # above the take-off altitude: airborne, when no landed flag is logged
VIBE_WARN, VIBE_CRIT = 30.0, 60.0
CLIP_WARN, CLIP_CRIT = 1.0, 100.0
PX4_VIBE_WARN, PX4_VIBE_CRIT = 4.905, 9.81
SATS_MIN, HDOP_MAX, JAMMING_MAX = 6.0, 3.0, 80.0
EKF_WARN, EKF_CRIT = 0.5, 0.8
CELL_FULL_V, CELL_FULL_HV_V, CELL_BROWNOUT_V = 4.2, 4.35, 3.3
EARTH_RADIUS_M = 6_371_008.8
SUSTAINED_S = 2.0  # a finding needs its condition to hold this long (one spike is noise)
IR_WINDOW_S, IR_MIN_SWING_A, IR_MIN_CORRELATION = 20.0, 5.0, 0.8
IR_WORN_PER_CELL_OHM = 0.020
MOTOR_HIGH, MOTOR_SATURATED, MOTOR_SUSTAINED_S = 0.90, 0.95, 1.0
MOTOR_SPREAD_WARN_US, MOTOR_SPREAD_CRIT_US = 75.0, 150.0
MOTOR_FLYING = 0.15  # mean output above ArduCopter's default MOT_SPIN_MIN: thrust, not idle


def analyse(data: LogData, *, sha256: str = "", size_bytes: int = 0) -> LogReport:
    flights = find_flights(data)
    findings = (
        _vibration(data, flights)
        + _clipping(data)
        + _px4_vibration(data, flights)
        + _gps(data, flights)
        + _battery(data, flights)
        + _resistance(data, flights)
        + _estimator(data, flights)
        + _motors(data, flights)
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
        motors=_describe(motors(data)),
    )


def _describe(found: Motors | None) -> str:
    if found is None:
        return ""
    where = ", ".join(
        f"{n} <- {s.source}" for n, s in zip(found.numbers, found.signals, strict=True)
    )
    return f"{len(found.numbers)} motors ({found.mapping}): {where}"


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
    sustained_s: float = SUSTAINED_S,
) -> list[tuple[float, float]]:
    """Intervals (at least ``sustained_s`` long) where the signal is above (or below) a
    line, found within each flight on its own (never across the gap between two flights)."""
    windows = [(f.armed_s, f.disarmed_s) for f in flights] if flights else [(-math.inf, math.inf)]
    found: list[tuple[float, float]] = []
    for start, end in windows:
        keep = (signal.t >= start) & (signal.t <= end)
        t, v = signal.t[keep], signal.v[keep]
        if not len(t):
            continue
        flag = v < above if below else v > above
        found += [(a, b) for a, b in _true_intervals(t, flag, float(t[-1])) if b - a >= sustained_s]
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


def internal_resistance(data: LogData, flights: list[LogFlight]) -> tuple[float, int] | None:
    """The pack's resistance (ohm) from how its voltage sags with current in flight: the
    median over 20 s windows of the fitted slope, and how many windows gave one. Each
    window is found by its index among the samples (a damaged time stamp far in the future
    costs nothing), and only finite samples count."""
    volts, amps = data.signals.get(m.VOLTAGE), data.signals.get(m.CURRENT)
    if volts is None or amps is None:
        return None
    vt, vv = _finite(volts)
    at, av = _finite(amps)
    if len(vt) < 2 or len(at) < 2:
        return None
    if np.any(np.diff(at) < 0):  # interpolation needs increasing times
        order = np.argsort(at, kind="stable")
        at, av = at[order], av[order]
    current = np.interp(vt, at, av)
    slopes = []
    for f in flights:
        keep = (vt >= f.armed_s) & (vt <= f.disarmed_s)
        if np.count_nonzero(keep) < 10:
            continue
        t, i_all, v_all = vt[keep], current[keep], vv[keep]
        window = np.floor((t - f.armed_s) / IR_WINDOW_S).astype(np.int64)
        for w in np.unique(window):
            rows = window == w
            i, v = i_all[rows], v_all[rows]
            if len(i) < 10 or np.ptp(i) < IR_MIN_SWING_A or not np.std(v):
                continue
            di, dv = i - i.mean(), v - v.mean()
            correlation = float(np.sum(di * dv) / np.sqrt(np.sum(di * di) * np.sum(dv * dv)))
            if correlation > -IR_MIN_CORRELATION:
                continue  # the voltage is not following the load: nothing to read off
            slopes.append(-float(np.sum(di * dv) / np.sum(di * di)))
    if not slopes:
        return None
    return float(np.median(slopes)), len(slopes)


def _finite(signal: Signal) -> tuple[Array, Array]:
    ok = np.isfinite(signal.t) & np.isfinite(signal.v)
    return signal.t[ok], signal.v[ok]


def _resistance(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    found = internal_resistance(data, flights)
    cells = battery_cells(data)
    if found is None or cells is None:
        return []
    ohms, windows = found
    per_cell = ohms / cells
    worn = per_cell > IR_WORN_PER_CELL_OHM
    return [
        Finding(
            code="battery.resistance",
            severity=Severity.WARNING if worn else Severity.INFO,
            start_s=flights[0].armed_s,
            end_s=flights[-1].disarmed_s,
            summary=f"{cells}S pack resistance about {ohms * 1000:.0f} mΩ "
            f"({per_cell * 1000:.1f} mΩ per cell{', worn' if worn else ''})",
            evidence={
                "pack_mohm": ohms * 1000,
                "cell_mohm": per_cell * 1000,
                "cells": cells,
                "windows": windows,
                "sources": [data.signals[m.VOLTAGE].source, data.signals[m.CURRENT].source],
            },
            threshold="voltage sag against current in flight (wiring included); charger IR "
            "practice: above 20 mΩ per cell a LiPo is worn",
        )
    ]


# ----------------------------------------------------------------------------- motors
# ArduPilot output functions (SERVOn_FUNCTION): 33-40 are motors 1-8, 82-85 motors 9-12.
ARDUPILOT_MOTOR_FUNCTIONS = {33 + k: k + 1 for k in range(8)} | {82 + k: 9 + k for k in range(4)}
PX4_MOTOR_FUNCTIONS = {101 + k: k + 1 for k in range(12)}  # PWM_MAIN_FUNCn (PX4 1.13+)
# Multirotors by MAV_TYPE whose motors sit on the first outputs when nothing maps them
# (ArduCopter before 3.5, PX4 mixers before 1.13): quad, hexa, octo, dodeca.
MULTIROTOR_MOTORS = {2: 4, 13: 6, 14: 8, 29: 12}
VTOL_TYPES = frozenset({19, 20, 21, 22, 23, 24, 25})  # MAV_TYPE VTOL_*
FRAME_CLASS_TRI = 7  # a tricopter's "motor 7" is its tail servo
# ArduPilot frame classes whose "motor" outputs are not all lift rotors: helicopters
# (single, dual, quad: swashplate servos and tail), single and coaxial copters (fins).
FRAME_CLASSES_NOT_MULTIROTOR = frozenset({6, 8, 9, 11, 13})
PWM_PLAUSIBLE = (500.0, 2600.0)  # µs: a range outside this is a damaged or foreign parameter


@dataclass(frozen=True, slots=True)
class Motors:
    """A vehicle's lift motors' commands, normalised 0 (idle) .. 1 (full)."""

    numbers: list[int]  # motor numbers, 1-based
    signals: list[Signal]
    pwm_ranges: list[tuple[float, float]] | None  # µs per motor; None: logged normalised
    mapping: str  # how outputs were matched to motors

    def spread_us(self, spread: float) -> float:
        """A normalised spread in µs of the motors' range (1000 µs when logged normalised)."""
        if not self.pwm_ranges:
            return spread * 1000.0
        width = float(np.mean([hi - lo for lo, hi in self.pwm_ranges]))
        return spread * width


def _int_param(p: dict[str, float], name: str) -> int | None:
    """An integer parameter, or None where it is absent or not a finite number (damaged)."""
    value = p.get(name)
    if value is None or not math.isfinite(value):
        return None
    return int(value)


def motors(data: LogData) -> Motors | None:
    """Which outputs drive lift motors, and their commands normalised by each output's PWM
    range: ``SERVOn_FUNCTION`` (ArduPilot) or ``PWM_MAIN_FUNCn`` (PX4 1.13+) where the log
    has them, else a multirotor's first outputs by its frame (MAV_TYPE). Helicopters,
    single and coaxial copters, and rotors that do not lift (a VTOL's pusher) are left
    out: their outputs are not comparable thrusts."""
    p = data.parameters
    px4 = data.format == LogFormat.ULOG or data.vehicle.get("mav_autopilot") == str(
        m.MAV_AUTOPILOT_PX4
    )
    mav_type = _int_param(p, "MAV_TYPE")
    if data.vehicle.get("mav_type", "").isdigit():  # a tlog's HEARTBEAT says it
        mav_type = int(data.vehicle["mav_type"])
    if px4:
        return _px4_motors(data, mav_type)
    frame_class = _int_param(p, "Q_FRAME_CLASS" if p.get("Q_ENABLE", 0) > 0 else "FRAME_CLASS")
    if frame_class in FRAME_CLASSES_NOT_MULTIROTOR:
        return None
    if any(f"SERVO{n}_FUNCTION" in p for n in range(1, 17)):
        tail = 7 if frame_class == FRAME_CLASS_TRI else None
        channels = _by_function(p, "SERVO{}_FUNCTION", ARDUPILOT_MOTOR_FUNCTIONS, tail)
        mapping = "SERVOn_FUNCTION"
    elif (by_frame := _by_frame(mav_type)) is not None:
        channels, mapping = by_frame
    else:
        return None
    # AP_MotorsMulticopter: MOT_PWM_MIN/MAX when both are set, else the throttle input's
    # range (RCMAP_THROTTLE, channel 3 by default); Q_M_PWM_* on a quadplane.
    prefix = "Q_M_PWM" if p.get("Q_ENABLE", 0) > 0 else "MOT_PWM"
    throttle = _int_param(p, "RCMAP_THROTTLE") or 3
    pwm = _first_range(
        p, [(f"{prefix}_MIN", f"{prefix}_MAX"), (f"RC{throttle}_MIN", f"RC{throttle}_MAX")]
    )
    return _normalised(data, channels, mapping, lambda _channel: pwm)


def _px4_motors(data: LogData, mav_type: int | None) -> Motors | None:
    p = data.parameters
    multirotor = mav_type is None or mav_type in MULTIROTOR_MOTORS
    direct = [i for i in range(1, m.MAX_OUTPUTS + 1) if m.motor(i) in data.signals]
    if direct:
        if mav_type in VTOL_TYPES:  # keep the rotors that push up (CA_ROTORn_AX ~ 0)
            direct = [
                i for i in direct
                if f"CA_ROTOR{i - 1}_AX" in p and abs(p[f"CA_ROTOR{i - 1}_AX"]) < 0.5
            ]  # fmt: skip
        elif not multirotor:
            return None
        if not direct:
            return None
        return Motors(
            direct,
            [data.signals[m.motor(i)] for i in direct],
            None,
            "actuator_motors (normalised)",
        )
    if any(f"PWM_MAIN_FUNC{n}" in p for n in range(1, 17)):
        if not multirotor:
            return None  # a VTOL's or plane's motors include pushers: not comparable
        channels = _by_function(p, "PWM_MAIN_FUNC{}", PX4_MOTOR_FUNCTIONS, None)
        mapping = "PWM_MAIN_FUNCn"
    elif (by_frame := _by_frame(mav_type)) is not None:
        channels, mapping = by_frame
    else:
        return None

    def px4_range(channel: int) -> tuple[float, float]:
        # Per output PWM_MAIN_MINn / MAXn, each on its own (-1: the global value), else
        # PWM_MAIN_MIN/MAX (1.12) or PWM_MIN/MAX (older), else 1000-2000 µs.
        low = _first_value(p, [f"PWM_MAIN_MIN{channel}", "PWM_MAIN_MIN", "PWM_MIN"], 1000.0)
        high = _first_value(p, [f"PWM_MAIN_MAX{channel}", "PWM_MAIN_MAX", "PWM_MAX"], 2000.0)
        return (low, high) if _plausible(low, high) else (1000.0, 2000.0)

    return _normalised(data, channels, mapping, px4_range)


def _by_function(
    p: dict[str, float], name: str, functions: dict[int, int], skip: int | None
) -> dict[int, int]:
    """Motor number -> the first output channel whose function parameter makes it that
    motor (``skip``: a motor number that is not a rotor on this frame)."""
    channels: dict[int, int] = {}
    for n in range(1, m.MAX_OUTPUTS + 1):
        function = _int_param(p, name.format(n))
        number = functions.get(function) if function is not None else None
        if number is not None and number != skip:
            channels.setdefault(number, n)
    return channels


def _by_frame(mav_type: int | None) -> tuple[dict[int, int], str] | None:
    """A multirotor's motors on its first outputs, as frames without output functions
    (ArduCopter before 3.5, PX4 mixers before 1.13) put them."""
    count = MULTIROTOR_MOTORS.get(mav_type) if mav_type is not None else None
    if count is None:
        return None
    return {k: k for k in range(1, count + 1)}, f"MAV_TYPE {mav_type}: motors on outputs 1-{count}"


def _plausible(low: float, high: float) -> bool:
    return PWM_PLAUSIBLE[0] <= low < high <= PWM_PLAUSIBLE[1]


def _first_range(p: dict[str, float], pairs: list[tuple[str, str]]) -> tuple[float, float]:
    for low_name, high_name in pairs:
        low, high = p.get(low_name, 0.0), p.get(high_name, 0.0)
        if _plausible(low, high):
            return low, high
    return 1000.0, 2000.0


def _first_value(p: dict[str, float], names: list[str], default: float) -> float:
    for name in names:
        value = p.get(name)
        if value is not None and math.isfinite(value) and value > 0:
            return value
    return default


def _normalised(
    data: LogData,
    channels: dict[int, int],
    mapping: str,
    pwm_range: Callable[[int], tuple[float, float]],
) -> Motors | None:
    numbers = sorted(n for n, ch in channels.items() if m.output(ch) in data.signals)
    if not numbers:
        return None
    signals, ranges = [], []
    for number in numbers:
        channel = channels[number]
        lo, hi = pwm_range(channel)
        raw = data.signals[m.output(channel)]
        signals.append(Signal(raw.t, (raw.v - lo) / (hi - lo), raw.source))
        ranges.append((lo, hi))
    return Motors(numbers, signals, ranges, mapping)


def _on_common_time(signals: list[Signal]) -> tuple[Array, Array]:
    """The motors' commands as one (samples x motors) array on the first motor's times."""
    t = signals[0].t
    columns = [s.v if np.array_equal(s.t, t) else np.interp(t, s.t, s.v) for s in signals]
    return t, np.column_stack(columns)


def _motors(data: LogData, flights: list[LogFlight]) -> list[Finding]:
    found = motors(data)
    if found is None or len(found.numbers) < 2 or not flights:
        return []  # a single motor (a plane's throttle) runs flat out by design
    t, commands = _on_common_time(found.signals)
    armed = np.zeros(len(t), dtype=bool)
    for f in flights:
        armed |= (t >= f.armed_s) & (t <= f.disarmed_s)
    findings = []
    highest = Signal(t, np.max(commands, axis=1), "highest motor command")
    high = _exceeding(highest, MOTOR_HIGH, flights=flights, sustained_s=MOTOR_SUSTAINED_S)
    if high:
        saturated = _exceeding(
            highest, MOTOR_SATURATED, flights=flights, sustained_s=MOTOR_SUSTAINED_S
        )
        in_high = np.zeros(len(t), dtype=bool)
        for a, b in high:
            in_high |= (t >= a) & (t <= b)
        share = np.mean(commands[in_high] >= MOTOR_HIGH, axis=0)
        worst = found.numbers[int(np.argmax(share))]
        findings.append(
            Finding(
                code="motors.saturation",
                severity=Severity.CRITICAL if saturated else Severity.WARNING,
                start_s=high[0][0],
                end_s=high[-1][1],
                summary=f"motor output at {MOTOR_HIGH:.0%} or more for "
                f"{sum(b - a for a, b in high):.0f} s"
                + (
                    f", saturated (≥ {MOTOR_SATURATED:.0%}) for "
                    f"{sum(b - a for a, b in saturated):.0f} s"
                    if saturated
                    else ""
                )
                + f"; motor {worst} most often",
                evidence={
                    "mapping": found.mapping,
                    "sources": [s.source for s in found.signals],
                    "motor": worst,
                    "max_command": float(np.max(commands[armed])) if np.any(armed) else None,
                    "ranges_s": high[:20],
                },
                threshold="ArduCopter thrust-loss check: motors at >= 90 % for 1 s; "
                "MOT_SPIN_MAX 0.95: thrust saturates",
            )
        )
    flying = armed & (np.mean(commands, axis=1) > MOTOR_FLYING)
    if np.count_nonzero(flying) >= 10:
        averages = np.mean(commands[flying], axis=0)
        spread_us = found.spread_us(float(np.max(averages) - np.min(averages)))
        if spread_us > MOTOR_SPREAD_WARN_US:
            hardest = found.numbers[int(np.argmax(averages))]
            used = t[flying]
            findings.append(
                Finding(
                    code="motors.imbalance",
                    severity=Severity.CRITICAL
                    if spread_us > MOTOR_SPREAD_CRIT_US
                    else Severity.WARNING,
                    start_s=float(used[0]),
                    end_s=float(used[-1]),
                    summary=f"motor averages in flight {spread_us:.0f} µs apart; motor "
                    f"{hardest} works hardest ({averages.max():.0%} vs mean "
                    f"{averages.mean():.0%})",
                    evidence={
                        "mapping": found.mapping,
                        "averages": {
                            str(n): round(float(a), 4)
                            for n, a in zip(found.numbers, averages, strict=True)
                        },
                        "spread_us": spread_us,
                        "motor": hardest,
                        "samples": int(np.count_nonzero(flying)),
                    },
                    threshold="ArduPilot LogAnalyzer motor balance: spread of motor averages "
                    "> 75 µs warning, > 150 µs failure",
                )
            )
    return findings
