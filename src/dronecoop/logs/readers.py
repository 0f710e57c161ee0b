"""Reading flight logs with each format's own reader (the adapter around ``logs.analysis``).

- PX4 ULog: ``pyulog.ULog``;
- ArduPilot DataFlash: ``logs.fast_dataflash`` for ``.bin`` (vectorised; ``read_dataflash``
  here, with ``pymavlink.DFReader``, is its reference and reads ``.log`` text logs);
- MAVLink telemetry logs (``.tlog``): ``logs.fast_tlog`` (vectorised, ~30x faster;
  ``read_tlog`` here, with ``pymavlink.mavutil.mavlogfile``, is its reference).

A file is opened with its reader class directly, never through
``mavutil.mavlink_connection`` (which runs ``.elf`` paths in a simulator and takes
``host:port`` for a socket). The format is decided by the file's first bytes, not its
name. A log is read as far as it is valid; what stopped the reading is kept as a warning.
Garbage raises ``LogFormatError`` saying why.
"""

from __future__ import annotations

import math
import struct
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dronecoop.logs import model as m
from dronecoop.logs.model import MAV_AUTOPILOT_PX4, LogData, LogFormat, ParameterTrail, Signal

ULOG_MAGIC = b"ULog\x01\x12\x35"
DATAFLASH_MAGIC = b"\xa3\x95"
MAVLINK_MAGICS = (0xFE, 0xFD)  # MAVLink 1 and 2 start-of-frame
PX4_ARMED = 2  # vehicle_status.arming_state ARMED
MAV_TYPE_GCS = 6
MAV_AUTOPILOT_INVALID = 8
MAV_MODE_FLAG_SAFETY_ARMED = 128
_EPOCH_2000 = 946_684_800  # a tlog or GPS timestamp before this is not a wall-clock time


class LogFormatError(ValueError):
    """Not a log this node reads, or nothing valid in it."""


def detect_format(head: bytes, name: str = "") -> LogFormat:
    """The format of a log from its first bytes (at least 16)."""
    if head.startswith(ULOG_MAGIC):
        return LogFormat.ULOG
    if head.startswith(DATAFLASH_MAGIC) or head.startswith(b"FMT,"):
        return LogFormat.DATAFLASH
    if len(head) > 8 and head[8] in MAVLINK_MAGICS:
        stamp_us = int.from_bytes(head[:8], "big")
        if _EPOCH_2000 * 1_000_000 < stamp_us < 4_102_444_800 * 1_000_000:  # 2000..2100
            return LogFormat.TLOG
    shown = head[:8].hex(" ")
    raise LogFormatError(
        f"{name or 'file'}: not a PX4 ULog, ArduPilot DataFlash or MAVLink tlog "
        f"(first bytes {shown})"
    )


def read_log(path: Path) -> LogData:
    with path.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise LogFormatError(f"{path.name}: the file is empty")
    kind = detect_format(head, path.name)
    from dronecoop.logs.fast_dataflash import read_dataflash_fast
    from dronecoop.logs.fast_tlog import read_tlog_fast  # vectorised; the pymavlink readers
    # here (read_dataflash, read_tlog) are their references in the tests

    with path.open("rb") as fh:
        text_dataflash = fh.read(4) == b"FMT,"
    reader = {
        LogFormat.ULOG: read_ulog,
        LogFormat.DATAFLASH: read_dataflash if text_dataflash else read_dataflash_fast,
        LogFormat.TLOG: read_tlog_fast,
    }[kind]
    return reader(path)


class _Collector:
    """Accumulates (t, value) pairs per signal name, then makes arrays."""

    def __init__(self) -> None:
        self.t: dict[str, list[float]] = defaultdict(list)
        self.v: dict[str, list[float]] = defaultdict(list)
        self.sources: dict[str, str] = {}

    def add(self, name: str, t: float, value: Any, source: str) -> None:
        if value is None:
            return
        number = float(value)
        if not math.isfinite(number):
            return
        self.t[name].append(t)
        self.v[name].append(number)
        self.sources.setdefault(name, source)

    def signals(self) -> dict[str, Signal]:
        return {
            name: Signal(np.asarray(self.t[name]), np.asarray(self.v[name]), self.sources[name])
            for name in self.t
        }


# ---------------------------------------------------------------------------- ULog
def read_ulog(path: Path) -> LogData:
    from pyulog import ULog

    try:
        with path.open("rb") as fh:  # pyulog leaves a file it opened itself open on errors
            ulog = ULog(fh)
    except Exception as exc:  # pyulog raises whatever its struct parsing hits
        raise LogFormatError(f"{path.name}: not a readable ULog ({exc})") from exc
    try:
        return _ulog(ulog)
    except (ValueError, KeyError, IndexError, TypeError) as exc:  # damaged past its checks
        raise LogFormatError(f"{path.name}: ULog damaged beyond reading ({exc})") from exc


def _numbers(values: Iterable[tuple[str, Any]], warnings: list[str]) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for name, value in values:
        try:
            numbers[str(name)] = float(value)
        except (TypeError, ValueError):
            warnings.append(f"parameter {name!r} has no numeric value (damaged)")
    return numbers


def _ulog(ulog: Any) -> LogData:
    start = ulog.start_timestamp
    signals: dict[str, Signal] = {}

    def topic(name: str) -> Any:
        found = [d for d in ulog.data_list if d.name == name]
        return min(found, key=lambda d: d.multi_id) if found else None

    def put(key: str, topic_name: str, fields: Iterable[str], scale: float = 1.0) -> None:
        data = topic(topic_name)
        if data is None:
            return
        for field in fields:
            if field in data.data:
                t = (data.data["timestamp"].astype(np.float64) - start) / 1e6
                v = data.data[field].astype(np.float64) * scale
                ok = np.isfinite(v)  # a damaged or not-yet-valid sample
                signals[key] = Signal(t[ok], v[ok], f"{topic_name}.{field}")
                return

    status = topic("vehicle_status")
    if status is not None and "arming_state" in status.data:
        t = (status.data["timestamp"].astype(np.float64) - start) / 1e6
        armed = (status.data["arming_state"] == PX4_ARMED).astype(np.float64)
        signals[m.ARMED] = Signal(t, armed, "vehicle_status.arming_state")
    put(m.LANDED, "vehicle_land_detected", ["landed"])
    for key, new, old, scale in (
        (m.LAT, "latitude_deg", "lat", 1e-7),
        (m.LON, "longitude_deg", "lon", 1e-7),
        (m.ALT_AMSL, "altitude_msl_m", "alt", 1e-3),
    ):  # newer PX4 names the fields in degrees and metres; older ones in 1e-7 deg and mm
        put(key, "vehicle_gps_position", [new])
        if key not in signals:
            put(key, "vehicle_gps_position", [old], scale)
    local = topic("vehicle_local_position")
    if local is not None and "z" in local.data:
        t = (local.data["timestamp"].astype(np.float64) - start) / 1e6
        signals[m.ALT_REL] = Signal(
            t, -local.data["z"].astype(np.float64), "vehicle_local_position.z"
        )
    if local is not None and "vx" in local.data and "vy" in local.data:
        t = (local.data["timestamp"].astype(np.float64) - start) / 1e6
        speed = np.hypot(local.data["vx"].astype(np.float64), local.data["vy"].astype(np.float64))
        signals[m.SPEED] = Signal(t, speed, "vehicle_local_position.vx,vy")
    _ulog_outputs(topic("actuator_motors"), topic("actuator_outputs"), start, signals)
    put(m.VOLTAGE, "battery_status", ["voltage_filtered_v", "voltage_v"])
    put(m.CURRENT, "battery_status", ["current_filtered_a", "current_a"])
    put(m.CONSUMED, "battery_status", ["discharged_mah"])
    put(m.PX4_VIBE, "vehicle_imu_status", ["accel_vibration_metric"])
    put(m.SATS, "vehicle_gps_position", ["satellites_used"])
    put(m.HDOP, "vehicle_gps_position", ["hdop"])
    put(m.JAMMING, "vehicle_gps_position", ["jamming_indicator"])
    for key, name in zip(m.EKF, ("vel", "pos", "hgt", "mag"), strict=True):
        put(key, "estimator_status", [f"{name}_test_ratio"])
    info = ulog.msg_info_dict
    warnings = []
    if getattr(ulog, "file_corruption", False):
        warnings.append("the file is corrupt in places: read around the damaged parts")
    for dropout in getattr(ulog, "dropouts", [])[:1]:
        warnings.append(f"{len(ulog.dropouts)} logging dropouts (first {dropout.duration} ms)")
    last = max(
        (d.data["timestamp"][-1] for d in ulog.data_list if len(d.data["timestamp"])), default=start
    )
    utc = None
    gps = topic("vehicle_gps_position")
    if gps is not None and "time_utc_usec" in gps.data:
        stamps = gps.data["time_utc_usec"]
        valid = np.nonzero(stamps > _EPOCH_2000 * 1_000_000)[0]
        if len(valid):
            i = int(valid[0])
            offset = (float(gps.data["timestamp"][i]) - start) / 1e6
            utc = datetime.fromtimestamp(float(stamps[i]) / 1e6 - offset, UTC)
    return LogData(
        format=LogFormat.ULOG,
        signals=signals,
        start_utc=utc,
        vehicle={
            k: str(info[k]) for k in ("sys_name", "ver_hw", "sys_uuid", "sys_mcu") if k in info
        },
        firmware=px4_version(info.get("ver_sw_release"), info.get("ver_sw")),
        parameters=_numbers(ulog.initial_parameters.items(), warnings),
        parameter_changes=[
            ((float(ts) - start) / 1e6, name, float(value))
            for ts, name, value in ulog.changed_parameters
        ],
        warnings=warnings,
        duration_s=(float(last) - start) / 1e6,
    )


def _ulog_outputs(motors: Any, outputs: Any, start: int, signals: dict[str, Signal]) -> None:
    """PX4 1.13+ logs each motor's normalised command (``actuator_motors.control[i]``,
    NaN where no motor is configured); older PX4 only the outputs' PWM
    (``actuator_outputs`` instance 0, the main outputs, ``noutputs`` of them in use)."""
    if motors is not None:
        t = (motors.data["timestamp"].astype(np.float64) - start) / 1e6
        for i in range(m.MAX_OUTPUTS):
            column = motors.data.get(f"control[{i}]")
            if column is None:
                break
            values = column.astype(np.float64)
            used = np.isfinite(values)
            if np.any(used):
                signals[m.motor(i + 1)] = Signal(t[used], values[used], f"actuator_motors.{i}")
        return
    if outputs is None or "noutputs" not in outputs.data:
        return
    t = (outputs.data["timestamp"].astype(np.float64) - start) / 1e6
    count = int(np.max(outputs.data["noutputs"], initial=0))
    for i in range(min(count, m.MAX_OUTPUTS)):
        column = outputs.data.get(f"output[{i}]")
        if column is not None:
            source = f"actuator_outputs.output[{i}]"
            signals[m.output(i + 1)] = Signal(t, column.astype(np.float64), source)


_PX4_RELEASE_TYPES = {0: "dev", 64: "alpha", 128: "beta", 192: "rc", 255: ""}


def px4_version(release: Any, git_hash: Any) -> str:
    """PX4's ``ver_sw_release`` (0xMMmmpptt: major, minor, patch, type) as ``v1.11.3``."""
    text = ""
    if isinstance(release, int) and release > 0:
        major, minor = (release >> 24) & 255, (release >> 16) & 255
        patch, kind = (release >> 8) & 255, release & 255
        text = f"v{major}.{minor}.{patch}"
        suffix = _PX4_RELEASE_TYPES.get(kind, f"type {kind}")
        text += f" {suffix}" if suffix else ""
    if git_hash:
        text += f" ({str(git_hash)[:8]})" if text else str(git_hash)[:8]
    return text


# ------------------------------------------------------------------------ DataFlash
_DF_TYPES = [
    "ARM", "EV", "GPS", "BAT", "VIBE", "MSG", "PARM", "POS", "VER", "XKF4", "NKF4", "RCOU", "RCO2",
]  # fmt: skip
_DF_EKF = (("SV", "ekf_vel"), ("SP", "ekf_pos"), ("SH", "ekf_hgt"), ("SM", "ekf_mag"))


def read_dataflash(path: Path) -> LogData:
    from pymavlink import DFReader

    try:
        with path.open("rb") as fh:
            text = fh.read(4) == b"FMT,"
        reader: Any = (
            DFReader.DFReader_text(str(path), zero_time_base=True)
            if text
            else DFReader.DFReader_binary(str(path), zero_time_base=True)
        )
    except Exception as exc:
        _close_reader_of(exc)
        raise LogFormatError(f"{path.name}: not a readable DataFlash log ({exc})") from exc
    try:
        return _dataflash(path, reader)
    finally:
        try:
            reader.close()
        except BufferError:  # messages still view the memory map: it goes when they do
            reader.filehandle.close()


def _dataflash(path: Path, reader: Any) -> LogData:
    c = _Collector()
    firmware = ""
    vehicle: dict[str, str] = {}
    trail = ParameterTrail()
    warnings: list[str] = []
    first_us: float | None = None
    last_s = 0.0
    armed_seen = False
    events = _Collector()  # EV arm/disarm events: used when the log has no ARM messages
    ekf: dict[str, list[tuple[float, Any]]] = {"XKF4": [], "NKF4": []}
    try:
        while (msg := reader.recv_match(type=_DF_TYPES)) is not None:
            kind = msg.get_type()
            time_us = getattr(msg, "TimeUS", None)
            if time_us is None:
                continue
            first_us = time_us if first_us is None else first_us
            t = (time_us - first_us) / 1e6
            last_s = max(last_s, t)
            if kind == "ARM":
                armed_seen = True
                c.add(m.ARMED, t, 1.0 if msg.ArmState else 0.0, "ARM.ArmState")
            elif kind == "EV" and msg.Id in (10, 11):  # ARMED / DISARMED (older logs)
                events.add(m.ARMED, t, 1.0 if msg.Id == 10 else 0.0, "EV.Id")
            elif kind == "GPS" and getattr(msg, "Status", 3) >= 3:
                c.add(m.LAT, t, msg.Lat, "GPS.Lat")
                c.add(m.LON, t, msg.Lng, "GPS.Lng")
                c.add(m.ALT_AMSL, t, msg.Alt, "GPS.Alt")
                c.add(m.SATS, t, getattr(msg, "NSats", None), "GPS.NSats")
                c.add(m.HDOP, t, getattr(msg, "HDop", None), "GPS.HDop")
                c.add(m.SPEED, t, getattr(msg, "Spd", None), "GPS.Spd")
            elif kind in ("RCOU", "RCO2"):  # RCO2: outputs 15-18 (C15..C18)
                for channel in range(1, m.MAX_OUTPUTS + 1):
                    column = rcou_column(msg.get_fieldnames(), channel)
                    if column is not None:
                        c.add(m.output(channel), t, getattr(msg, column), f"{kind}.{column}")
            elif kind == "POS":
                c.add(m.ALT_REL, t, getattr(msg, "RelHomeAlt", None), "POS.RelHomeAlt")
            elif kind == "BAT" and getattr(msg, "Instance", 0) == 0:
                c.add(m.VOLTAGE, t, msg.Volt, "BAT.Volt")
                c.add(m.CURRENT, t, msg.Curr, "BAT.Curr")
                c.add(m.CONSUMED, t, msg.CurrTot, "BAT.CurrTot")
            elif kind == "VIBE" and getattr(msg, "IMU", 0) == 0:
                for axis, name in zip("XYZ", m.VIBE, strict=True):
                    c.add(name, t, getattr(msg, f"Vibe{axis}"), f"VIBE.Vibe{axis}")
                for k, name in enumerate(m.CLIP):
                    clip = getattr(msg, f"Clip{k}", getattr(msg, "Clip", None) if k == 0 else None)
                    c.add(
                        name, t, clip, f"VIBE.Clip{k}" if hasattr(msg, f"Clip{k}") else "VIBE.Clip"
                    )
            elif kind in ("XKF4", "NKF4") and getattr(msg, "C", 0) == 0:
                ekf[kind].append((t, msg))
            elif kind == "MSG":
                text_line = str(msg.Message)
                if not firmware and text_line.startswith(("Ardu", "APM:")):
                    firmware = text_line
                elif firmware and "board" not in vehicle and _board_line(text_line):
                    vehicle["board"], *uid = text_line.split()
                    vehicle["uid"] = "".join(uid)
            elif kind == "PARM":
                trail.add(t, str(msg.Name), float(msg.Value))
    except Exception as exc:  # a damaged record: keep what was read before it
        warnings.append(f"stopped reading at {last_s:.1f} s: {exc}")
    if first_us is None:
        raise LogFormatError(f"{path.name}: no timed DataFlash messages")
    for t, msg in ekf["XKF4"] or ekf["NKF4"]:  # EKF3 if logged, else EKF2
        kind = msg.get_type()
        for column, key in _DF_EKF:
            c.add(key, t, getattr(msg, column, None), f"{kind}.{column}")
    signals = c.signals()
    if not armed_seen:
        signals |= events.signals()
    return LogData(
        format=LogFormat.DATAFLASH,
        signals=signals,
        vehicle=vehicle,
        firmware=firmware,
        parameters=trail.initial,
        parameter_changes=trail.changes,
        warnings=warnings,
        duration_s=last_s,
    )


def rcou_column(columns: Iterable[str], channel: int) -> str | None:
    """RCOU names its channels C1..C14 (Chan1..Chan8 in older logs)."""
    names = set(columns)
    for prefix in ("C", "Chan", "Ch"):
        if f"{prefix}{channel}" in names:
            return f"{prefix}{channel}"
    return None


def _close_reader_of(exc: BaseException) -> None:
    """DFReader opens its file before it parses; when parsing fails in its constructor
    nobody holds the reader, so close its file from the failed frame."""
    tb = exc.__traceback__
    while tb is not None:
        reader = tb.tb_frame.f_locals.get("self")
        handle = getattr(reader, "filehandle", None)
        if handle is not None and hasattr(handle, "close"):
            handle.close()
        tb = tb.tb_next


def _board_line(text: str) -> bool:
    """ArduPilot's boot line naming the board and its 96-bit UID: ``omnibusf4pro 0034005A
    4E4E5005 20363553``."""
    parts = text.split()
    return len(parts) == 4 and all(
        len(p) == 8 and all(ch in "0123456789ABCDEFabcdef" for ch in p) for p in parts[1:]
    )


# ----------------------------------------------------------------------------- tlog
_TLOG_TYPES = [
    "HEARTBEAT",
    "GLOBAL_POSITION_INT",
    "SYS_STATUS",
    "BATTERY_STATUS",
    "VIBRATION",
    "GPS_RAW_INT",
    "EXTENDED_SYS_STATE",
    "STATUSTEXT",
    "PARAM_VALUE",
    "AUTOPILOT_VERSION",
    "EKF_STATUS_REPORT",
    "SERVO_OUTPUT_RAW",
    "BAD_DATA",
]
_TLOG_EKF = (
    ("velocity_variance", "ekf_vel"),
    ("pos_horiz_variance", "ekf_pos"),
    ("pos_vert_variance", "ekf_hgt"),
    ("compass_variance", "ekf_mag"),
)
MAV_LANDED_STATE_ON_GROUND = 1
# MAV_PARAM_TYPE: the integer types, as (struct code of their bytes, width in bytes).
_PARAM_INT_TYPES = {1: "B", 2: "b", 3: "H", 4: "h", 5: "I", 6: "i"}


def param_value(value: float, param_type: int, *, bytewise: bool) -> float:
    """A PARAM_VALUE's number. PX4 sends integer parameters byte-wise: the float field's
    bytes are the integer's (MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE); ArduPilot
    casts them to float."""
    code = _PARAM_INT_TYPES.get(param_type)
    if not bytewise or code is None:
        return value
    raw = struct.pack("<f", value)
    return float(struct.unpack("<" + code, raw[: struct.calcsize(code)])[0])


def servo_field(port: int, channel: int, *, px4: bool) -> str | None:
    """Which SERVO_OUTPUT_RAW field carries output ``channel`` (1-16) on ``port``: port 0
    carries 1-8, and 9-16 in MAVLink 2's extension fields (ArduPilot); PX4 sends its
    AUX outputs (9-16 here) on port 1; ArduPilot's port 1 is outputs 17-32, not kept."""
    if port == 0 and (channel <= 8 or not px4):
        return f"servo{channel}_raw"
    if port == 1 and px4 and channel > 8:
        return f"servo{channel - 8}_raw"
    return None


def read_tlog(path: Path) -> LogData:
    from pymavlink import mavutil
    from pymavlink.dialects.v20 import ardupilotmega as mavlink2

    try:
        log: Any = mavutil.mavlogfile(str(path), notimestamps=False)
    except Exception as exc:
        raise LogFormatError(f"{path.name}: not a readable tlog ({exc})") from exc
    # mavutil's default parser is MAVLink 1's dialect, which drops MAVLink 2's extension
    # fields (SERVO_OUTPUT_RAW's outputs 9-16): parse with MAVLink 2's, which reads both.
    log.mav = mavlink2.MAVLink(log, srcSystem=log.source_system, srcComponent=0)
    log.mav.robust_parsing = True
    try:
        return _tlog(path, log)
    finally:
        log.close()


def _tlog(path: Path, log: Any) -> LogData:
    c = _Collector()
    vehicle: dict[str, str] = {}
    firmware = ""
    trail = ParameterTrail()
    raw_params: list[tuple[float, str, float, int]] = []
    outputs: list[tuple[float, Any]] = []
    warnings: list[str] = []
    autopilot: int | None = None  # the system id of the vehicle (not a GCS)
    first: float | None = None
    last_s = 0.0
    bad = 0
    try:
        while (msg := log.recv_match(type=_TLOG_TYPES)) is not None:
            kind = msg.get_type()
            if kind == "BAD_DATA":
                bad += 1
                continue
            stamp = float(getattr(msg, "_timestamp", 0.0))
            first = stamp if first is None else first
            t = stamp - first
            last_s = max(last_s, t)
            system = msg.get_srcSystem()
            if kind == "HEARTBEAT":
                if msg.type == MAV_TYPE_GCS or msg.autopilot == MAV_AUTOPILOT_INVALID:
                    continue  # a ground station, gimbal or companion: not the vehicle's state
                autopilot = system if autopilot is None else autopilot
                if system != autopilot:
                    continue
                vehicle.setdefault("mav_type", str(msg.type))
                vehicle.setdefault("mav_autopilot", str(msg.autopilot))
                armed = bool(msg.base_mode & MAV_MODE_FLAG_SAFETY_ARMED)
                c.add(m.ARMED, t, 1.0 if armed else 0.0, "HEARTBEAT.base_mode")
                continue
            if autopilot is not None and system != autopilot:
                continue
            if kind == "GLOBAL_POSITION_INT":
                if msg.lat or msg.lon:
                    c.add(m.LAT, t, msg.lat * 1e-7, "GLOBAL_POSITION_INT.lat")
                    c.add(m.LON, t, msg.lon * 1e-7, "GLOBAL_POSITION_INT.lon")
                    c.add(m.ALT_AMSL, t, msg.alt * 1e-3, "GLOBAL_POSITION_INT.alt")
                c.add(m.ALT_REL, t, msg.relative_alt * 1e-3, "GLOBAL_POSITION_INT.relative_alt")
                speed = math.hypot(msg.vx, msg.vy) / 100
                c.add(m.SPEED, t, speed, "GLOBAL_POSITION_INT.vx,vy")
            elif kind == "SERVO_OUTPUT_RAW" and msg.port in (0, 1):
                outputs.append((t, msg))  # which port means what depends on the autopilot
            elif kind == "SYS_STATUS":
                if msg.voltage_battery not in (0, 65535):
                    c.add(m.VOLTAGE, t, msg.voltage_battery / 1000, "SYS_STATUS.voltage_battery")
                if msg.current_battery >= 0:
                    c.add(m.CURRENT, t, msg.current_battery / 100, "SYS_STATUS.current_battery")
            elif kind == "BATTERY_STATUS" and msg.id == 0 and msg.current_consumed >= 0:
                c.add(m.CONSUMED, t, msg.current_consumed, "BATTERY_STATUS.current_consumed")
            elif kind == "VIBRATION":
                for axis, name in zip("xyz", m.VIBE, strict=True):
                    c.add(name, t, getattr(msg, f"vibration_{axis}"), f"VIBRATION.vibration_{axis}")
                for k, name in enumerate(m.CLIP):
                    c.add(name, t, getattr(msg, f"clipping_{k}"), f"VIBRATION.clipping_{k}")
            elif kind == "GPS_RAW_INT":
                if msg.satellites_visible != 255:
                    c.add(m.SATS, t, msg.satellites_visible, "GPS_RAW_INT.satellites_visible")
                if msg.eph != 65535:
                    c.add(m.HDOP, t, msg.eph / 100, "GPS_RAW_INT.eph")
            elif kind == "EXTENDED_SYS_STATE" and msg.landed_state:
                on_ground = msg.landed_state == MAV_LANDED_STATE_ON_GROUND
                c.add(m.LANDED, t, 1.0 if on_ground else 0.0, "EXTENDED_SYS_STATE.landed_state")
            elif kind == "STATUSTEXT" and not firmware:
                text_line = str(msg.text)
                if text_line.startswith(("APM:", "Ardu", "PX4")):
                    firmware = text_line
            elif kind == "PARAM_VALUE":
                raw_params.append((t, str(msg.param_id), float(msg.param_value), msg.param_type))
            elif kind == "EKF_STATUS_REPORT":
                for column, key in _TLOG_EKF:
                    c.add(key, t, getattr(msg, column), f"EKF_STATUS_REPORT.{column}")
            elif kind == "AUTOPILOT_VERSION" and msg.uid:
                vehicle["uid"] = f"{msg.uid:016x}"
    except Exception as exc:
        warnings.append(f"stopped reading at {last_s:.1f} s: {exc}")
    if first is None:
        raise LogFormatError(f"{path.name}: no MAVLink messages")
    if bad:
        warnings.append(f"{bad} damaged MAVLink frames skipped")
    if autopilot is not None:
        vehicle["system_id"] = str(autopilot)
    px4 = vehicle.get("mav_autopilot") == str(MAV_AUTOPILOT_PX4)
    for t, name, value, kind_code in raw_params:
        trail.add(t, name, param_value(value, kind_code, bytewise=px4))
    for t, msg in outputs:
        for channel in range(1, m.MAX_OUTPUTS + 1):
            field = servo_field(msg.port, channel, px4=px4)
            pwm = getattr(msg, field, None) if field else None
            if pwm:
                c.add(m.output(channel), t, pwm, f"SERVO_OUTPUT_RAW.servo{channel}_raw")
    return LogData(
        format=LogFormat.TLOG,
        signals=c.signals(),
        start_utc=datetime.fromtimestamp(first, UTC) if first > _EPOCH_2000 else None,
        vehicle=vehicle,
        firmware=firmware,
        parameters=trail.initial,
        parameter_changes=trail.changes,
        warnings=warnings,
        duration_s=last_s,
    )
