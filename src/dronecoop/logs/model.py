"""What a flight log tells, as plain data: signals, flights, findings (no I/O here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


class LogFormat(StrEnum):
    ULOG = "ulog"
    DATAFLASH = "dataflash"
    TLOG = "tlog"


@dataclass(frozen=True, slots=True)
class Signal:
    """One quantity over time: ``t`` seconds since the log's start, ``v`` its values."""

    t: Array
    v: Array
    source: str  # where it came from, e.g. "VIBRATION.vibration_z" (cited in findings)

    def __post_init__(self) -> None:
        if self.t.shape != self.v.shape:
            raise ValueError(f"{self.source}: {self.t.shape} times for {self.v.shape} values")


# The signal names every reader fills where its log has them (units in the name's comment).
ARMED = "armed"  # 1 armed, 0 disarmed
LANDED = "landed"  # 1 on the ground, 0 airborne (where the autopilot says)
LAT = "lat_deg"
LON = "lon_deg"
ALT_AMSL = "alt_amsl_m"
ALT_REL = "alt_rel_m"  # above home / take-off
VOLTAGE = "battery_v"
CURRENT = "battery_a"
CONSUMED = "battery_mah"  # consumed since power-on
VIBE = ("vibe_x", "vibe_y", "vibe_z")  # ArduPilot VIBE / MAVLink VIBRATION, m/s/s
CLIP = ("clip_0", "clip_1", "clip_2")  # accelerometer clipping counters (cumulative)
PX4_VIBE = "px4_accel_vibration"  # PX4 accel vibration metric, m/s/s
SATS = "gps_sats"
HDOP = "gps_hdop"
JAMMING = "gps_jamming"  # PX4 jamming indicator 0..255
# Estimator innovation test ratios (or the variances MAVLink reports on the same scale):
EKF = ("ekf_vel", "ekf_pos", "ekf_hgt", "ekf_mag")
MAV_AUTOPILOT_PX4 = 12  # MAVLink's id of the PX4 autopilot (HEARTBEAT.autopilot)
SPEED = "ground_speed_mps"  # horizontal speed over the ground
MAX_OUTPUTS = 16


def output(channel: int) -> str:
    """A servo/ESC output channel as the autopilot drove it (PWM, microseconds), 1-based:
    which channel drives which motor is the vehicle's configuration (``analysis.motors``)."""
    return f"output_{channel}"


def motor(index: int) -> str:
    """A motor's command already normalised by the autopilot (0 idle .. 1 full), 1-based
    (PX4 ``actuator_motors``)."""
    return f"motor_{index}"


class ParameterTrail:
    """Parameters as a log reports them: each one's first value, and every later change."""

    def __init__(self) -> None:
        self.initial: dict[str, float] = {}
        self.changes: list[tuple[float, str, float]] = []
        self._latest: dict[str, float] = {}

    def add(self, t: float, name: str, value: float) -> None:
        if not math.isfinite(value):
            return  # a damaged value: no parameter is NaN or infinite
        if name in self._latest and self._latest[name] != value:
            self.changes.append((t, name, value))
        self._latest[name] = value
        self.initial.setdefault(name, value)


@dataclass(frozen=True, slots=True)
class LogData:
    """A log read: its signals and what it says about the vehicle and firmware."""

    format: LogFormat
    signals: dict[str, Signal]
    start_utc: datetime | None = None
    vehicle: dict[str, str] = field(default_factory=dict)  # sys_name, hw, uuid/serial...
    firmware: str = ""
    parameters: dict[str, float] = field(default_factory=dict)  # as the log starts
    parameter_changes: list[tuple[float, str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # read as far as valid, and why not more
    duration_s: float = 0.0


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    """A health observation with its time range, evidence and the field threshold cited."""

    code: str  # e.g. "vibration.high"
    severity: Severity
    start_s: float
    end_s: float
    summary: str
    evidence: dict[str, Any]
    threshold: str  # the rule and where it comes from


@dataclass(frozen=True, slots=True)
class LogFlight:
    """One arm-to-disarm cycle (a log may hold several)."""

    index: int
    armed_s: float
    disarmed_s: float
    airborne_s: float
    takeoffs: int
    max_alt_rel_m: float | None
    distance_m: float | None
    min_voltage_v: float | None
    consumed_mah: float | None

    @property
    def armed_duration_s(self) -> float:
        return self.disarmed_s - self.armed_s


@dataclass(frozen=True, slots=True)
class LogReport:
    format: LogFormat
    sha256: str
    size_bytes: int
    start_utc: datetime | None
    duration_s: float
    vehicle: dict[str, str]
    firmware: str
    flights: list[LogFlight]
    findings: list[Finding]
    lifetime_flight_s: float | None  # what the autopilot counted over its life, if it logs it
    warnings: list[str]
    parameters: dict[str, float] = field(default_factory=dict)  # as the log starts
    parameter_changes: list[tuple[float, str, float]] = field(default_factory=list)
    motors: str = ""  # which outputs drive the lift motors, and how that was known

    @property
    def airborne_s(self) -> float:
        return sum(f.airborne_s for f in self.flights)

    @property
    def cycles(self) -> int:
        return len(self.flights)
