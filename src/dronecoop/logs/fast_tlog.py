"""A vectorised MAVLink telemetry-log (``.tlog``) reader: the same signals as
``readers.read_tlog`` (pymavlink), an order of magnitude faster.

pymavlink decodes every frame in pure Python, one object per message. Here one pass finds
the frames (each record: an 8-byte big-endian microsecond timestamp, then a MAVLink 1 or 2
frame); the frames of the few message types dronecoop reads are then checked (X.25 CRC
with each message's CRC_EXTRA, computed for all frames of one length at once) and decoded
with numpy structured dtypes built from pymavlink's own message definitions (field order
and types: nothing is redefined here). MAVLink 2 payloads with their trailing zeros cut
are padded back. Frames that fail their CRC are dropped and counted, like pymavlink's
BAD_DATA. ``tests/unit/test_fast_tlog.py`` checks it message for message against
pymavlink on the real logs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dronecoop.logs import model as m
from dronecoop.logs.model import MAV_AUTOPILOT_PX4, LogData, LogFormat, ParameterTrail, Signal
from dronecoop.logs.readers import param_value, servo_field

_EPOCH_2000 = 946_684_800
_STRUCT_TO_NUMPY = {
    "Q": "<u8", "q": "<i8", "I": "<u4", "i": "<i4", "H": "<u2", "h": "<i2",
    "B": "u1", "b": "i1", "f": "<f4", "d": "<f8", "c": "S1",
}  # fmt: skip
MAV_TYPE_GCS = 6
MAV_AUTOPILOT_INVALID = 8  # a component that is not a flight controller (gimbal, camera)
ARMED_FLAG = 128
MAV_LANDED_STATE_ON_GROUND = 1

WANTED = {
    name: getattr(mavlink, f"MAVLINK_MSG_ID_{name}")
    for name in (
        "HEARTBEAT", "GLOBAL_POSITION_INT", "SYS_STATUS", "BATTERY_STATUS", "VIBRATION",
        "GPS_RAW_INT", "EXTENDED_SYS_STATE", "STATUSTEXT", "PARAM_VALUE", "AUTOPILOT_VERSION",
        "EKF_STATUS_REPORT", "SERVO_OUTPUT_RAW",
    )
}  # fmt: skip


def _dtype(msgid: int) -> tuple[np.dtype[Any], int]:
    """The numpy dtype of a message's full payload (wire order), from pymavlink."""
    cls = mavlink.mavlink_map[msgid]
    fields: list[tuple[Any, ...]] = []
    codes = re.findall(r"(\d*)([a-zA-Z])", cls.unpacker.format)
    names = cls.ordered_fieldnames
    if len(codes) != len(names):  # char arrays are one code "Ns" each
        raise ValueError(f"{cls.__name__}: cannot map {cls.unpacker.format} onto {names}")
    for (count, code), name in zip(codes, names, strict=True):
        if code == "s":
            fields.append((name, f"S{count or 1}"))
        elif count and int(count) > 1:
            fields.append((name, _STRUCT_TO_NUMPY[code], (int(count),)))
        else:
            fields.append((name, _STRUCT_TO_NUMPY[code]))
    dtype = np.dtype(fields)
    return dtype, dtype.itemsize


def _crc16(rows: np.ndarray[Any, Any], extra: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """X.25 (MCRF4XX) CRC of each row of bytes, then of its CRC_EXTRA byte."""
    crc = np.full(rows.shape[0], 0xFFFF, dtype=np.uint32)
    columns = [rows[:, j] for j in range(rows.shape[1])] + [extra]
    for column in columns:
        tmp = (column.astype(np.uint32) ^ (crc & 0xFF)) & 0xFF
        tmp = (tmp ^ (tmp << 4)) & 0xFF
        crc = ((crc >> 8) ^ (tmp << 8) ^ (tmp << 3) ^ (tmp >> 4)) & 0xFFFF
    return crc


def scan(buf: bytes) -> tuple[dict[int, list[tuple[int, int, int, int]]], int, int]:
    """Every frame of a wanted type: msgid -> [(record start, header start, payload length,
    version)], the number of bytes skipped resynchronising, and where reading stopped."""
    wanted = set(WANTED.values())
    frames: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    pos, end, skipped = 0, len(buf), 0
    while pos + 8 + 8 <= end:
        magic = buf[pos + 8]
        if magic == 0xFE:
            length = buf[pos + 9]
            size = 8 + 6 + length + 2
            msgid = buf[pos + 13]
            version = 1
        elif magic == 0xFD:
            if pos + 18 > end:  # a v2 header cut off at the end of the file
                break
            length = buf[pos + 9]
            size = 8 + 10 + length + 2 + (13 if buf[pos + 10] & 1 else 0)
            msgid = buf[pos + 15] | (buf[pos + 16] << 8) | (buf[pos + 17] << 16)
            version = 2
        else:
            pos += 1
            skipped += 1
            continue
        if pos + size > end:
            break
        if msgid in wanted:
            frames[msgid].append((pos, pos + 9, length, version))
        pos += size
    return frames, skipped, pos


def _decode(
    buf: np.ndarray[Any, Any], msgid: int, found: list[tuple[int, int, int, int]]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    """(timestamps s, source system ids, decoded payloads, frames failing their CRC)."""
    dtype, full = _dtype(msgid)
    extra = mavlink.mavlink_map[msgid].crc_extra
    keep_rows, stamps, systems, payloads, bad = [], [], [], [], 0
    groups: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for record, header, length, version in found:
        groups[(length, version)].append((record, header))
    for (length, version), members in groups.items():
        starts = np.array([h for _, h in members], dtype=np.int64)
        records = np.array([r for r, _ in members], dtype=np.int64)
        header_len = 5 if version == 1 else 9  # after the magic: len..msgid
        span = header_len + length
        rows = buf[starts[:, None] + np.arange(span)[None, :]]
        stored = buf[starts + span].astype(np.uint32) | (
            buf[starts + span + 1].astype(np.uint32) << 8
        )
        ok = _crc16(rows, np.full(len(starts), extra, dtype=np.uint8)) == stored
        bad += int(np.count_nonzero(~ok))
        rows, records = rows[ok], records[ok]
        if not len(rows):
            continue
        payload = np.zeros((len(rows), full), dtype=np.uint8)
        take = min(length, full)
        payload[:, :take] = rows[:, header_len : header_len + take]
        payloads.append(payload)
        stamp_bytes = buf[records[:, None] + np.arange(8)[None, :]].astype(np.uint64)
        stamp = np.zeros(len(records), dtype=np.uint64)
        for k in range(8):
            stamp = (stamp << np.uint64(8)) | stamp_bytes[:, k]
        stamps.append(stamp.astype(np.float64) / 1e6)
        # After the magic: v1 len, seq, sys ...; v2 len, incompat, compat, seq, sys ...
        systems.append(rows[:, 2 if version == 1 else 4])
        keep_rows.append(records)
    if not payloads:
        empty = np.zeros(0)
        return empty, empty.astype(np.uint8), np.zeros(0, dtype=dtype), bad
    order = np.argsort(np.concatenate(keep_rows), kind="stable")
    decoded = np.concatenate(payloads).view(dtype).reshape(-1)[order]
    return np.concatenate(stamps)[order], np.concatenate(systems)[order], decoded, bad


def _outputs(t: np.ndarray[Any, Any], p: np.ndarray[Any, Any], put: Any, *, px4: bool) -> None:
    """SERVO_OUTPUT_RAW, each output from the field ``readers.servo_field`` names (0 is an
    output not in use)."""
    for channel in range(1, m.MAX_OUTPUTS + 1):
        values = np.zeros(len(t), dtype=np.float64)
        for port in (0, 1):
            field = servo_field(port, channel, px4=px4)
            if field is not None:
                rows = p["port"] == port
                values[rows] = p[field][rows]
        used = values != 0
        if np.any(used):
            put(m.output(channel), t[used], values[used], f"SERVO_OUTPUT_RAW.servo{channel}_raw")


def _param_values(p: np.ndarray[Any, Any], *, px4: bool) -> list[float]:
    """PARAM_VALUE numbers, PX4's integer parameters read byte-wise (``readers.param_value``)."""
    return [
        param_value(value, kind, bytewise=px4)
        for value, kind in zip(p["param_value"].tolist(), p["param_type"].tolist(), strict=True)
    ]


def read_tlog_fast(path: Path) -> LogData:
    from dronecoop.logs.readers import LogFormatError

    raw = path.read_bytes()
    frames, skipped, stopped = scan(raw)
    if not frames:
        raise LogFormatError(f"{path.name}: no MAVLink messages")
    buf = np.frombuffer(raw, dtype=np.uint8)
    decoded = {
        name: _decode(buf, msgid, frames[msgid])
        for name, msgid in WANTED.items()
        if frames.get(msgid)
    }
    if not any(len(d[0]) for d in decoded.values()):
        raise LogFormatError(f"{path.name}: no MAVLink messages passed their checksum")
    first = min(float(d[0][0]) for d in decoded.values() if len(d[0]))
    signals: dict[str, Signal] = {}
    warnings: list[str] = []
    bad = sum(d[3] for d in decoded.values())
    if bad:
        warnings.append(f"{bad} damaged MAVLink frames skipped")
    if skipped:
        warnings.append(f"{skipped} bytes between frames skipped")
    if stopped < len(raw) - 16:
        warnings.append(f"stopped reading at byte {stopped} of {len(raw)}")

    def put(name: str, t: np.ndarray[Any, Any], v: np.ndarray[Any, Any], source: str) -> None:
        finite = np.isfinite(v)
        if np.any(finite):
            signals[name] = Signal((t - first)[finite], v[finite].astype(np.float64), source)

    autopilot: int | None = None
    mav_type, mav_autopilot = 0, 0
    if "HEARTBEAT" in decoded:
        t, sysid, hb, _ = decoded["HEARTBEAT"]
        vehicle_rows = (hb["type"] != MAV_TYPE_GCS) & (hb["autopilot"] != MAV_AUTOPILOT_INVALID)
        if np.any(vehicle_rows):
            autopilot = int(sysid[vehicle_rows][0])
            first_row = int(np.nonzero(vehicle_rows)[0][0])
            mav_type, mav_autopilot = hb["type"][first_row], hb["autopilot"][first_row]
            rows = vehicle_rows & (sysid == autopilot)  # gimbals, companions: autopilot 8
            armed = ((hb["base_mode"][rows] & ARMED_FLAG) > 0).astype(np.float64)
            put(m.ARMED, t[rows], armed, "HEARTBEAT.base_mode")

    def of(name: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
        if name not in decoded:
            return None
        t, sysid, payload, _ = decoded[name]
        rows = np.ones(len(t), dtype=bool) if autopilot is None else sysid == autopilot
        return t[rows], payload[rows]

    if (found := of("GLOBAL_POSITION_INT")) is not None:
        t, p = found
        fix = (p["lat"] != 0) | (p["lon"] != 0)
        put(m.LAT, t[fix], p["lat"][fix] * 1e-7, "GLOBAL_POSITION_INT.lat")
        put(m.LON, t[fix], p["lon"][fix] * 1e-7, "GLOBAL_POSITION_INT.lon")
        put(m.ALT_AMSL, t[fix], p["alt"][fix] * 1e-3, "GLOBAL_POSITION_INT.alt")
        put(m.ALT_REL, t, p["relative_alt"] * 1e-3, "GLOBAL_POSITION_INT.relative_alt")
        speed = np.hypot(p["vx"].astype(np.float64), p["vy"].astype(np.float64)) / 100
        put(m.SPEED, t, speed, "GLOBAL_POSITION_INT.vx,vy")
    px4 = autopilot is not None and int(mav_autopilot) == MAV_AUTOPILOT_PX4
    if (found := of("SERVO_OUTPUT_RAW")) is not None:
        t, p = found
        _outputs(t, p, put, px4=px4)
    if (found := of("SYS_STATUS")) is not None:
        t, p = found
        volts = (p["voltage_battery"] != 0) & (p["voltage_battery"] != 65535)
        put(m.VOLTAGE, t[volts], p["voltage_battery"][volts] / 1000, "SYS_STATUS.voltage_battery")
        amps = p["current_battery"] >= 0
        put(m.CURRENT, t[amps], p["current_battery"][amps] / 100, "SYS_STATUS.current_battery")
    if (found := of("BATTERY_STATUS")) is not None:
        t, p = found
        rows = (p["id"] == 0) & (p["current_consumed"] >= 0)
        put(m.CONSUMED, t[rows], p["current_consumed"][rows], "BATTERY_STATUS.current_consumed")
    if (found := of("VIBRATION")) is not None:
        t, p = found
        for axis, name in zip("xyz", m.VIBE, strict=True):
            put(name, t, p[f"vibration_{axis}"], f"VIBRATION.vibration_{axis}")
        for k, name in enumerate(m.CLIP):
            put(name, t, p[f"clipping_{k}"], f"VIBRATION.clipping_{k}")
    if (found := of("GPS_RAW_INT")) is not None:
        t, p = found
        sats = p["satellites_visible"] != 255
        put(m.SATS, t[sats], p["satellites_visible"][sats], "GPS_RAW_INT.satellites_visible")
        eph = p["eph"] != 65535
        put(m.HDOP, t[eph], p["eph"][eph] / 100, "GPS_RAW_INT.eph")
    if (found := of("EXTENDED_SYS_STATE")) is not None:
        t, p = found
        known = p["landed_state"] != 0
        on_ground = (p["landed_state"][known] == MAV_LANDED_STATE_ON_GROUND).astype(np.float64)
        put(m.LANDED, t[known], on_ground, "EXTENDED_SYS_STATE.landed_state")
    if (found := of("EKF_STATUS_REPORT")) is not None:
        t, p = found
        for column, key in (
            ("velocity_variance", "ekf_vel"),
            ("pos_horiz_variance", "ekf_pos"),
            ("pos_vert_variance", "ekf_hgt"),
            ("compass_variance", "ekf_mag"),
        ):
            put(key, t, p[column], f"EKF_STATUS_REPORT.{column}")
    firmware = ""
    if (found := of("STATUSTEXT")) is not None:
        for text in found[1]["text"]:
            line = text.split(b"\0", 1)[0].decode("ascii", "replace")
            if line.startswith(("APM:", "Ardu", "PX4")):
                firmware = line
                break
    trail = ParameterTrail()
    if (found := of("PARAM_VALUE")) is not None:
        for t_s, pid, value in zip(  # as Python lists: no numpy scalar per item
            (found[0] - first).tolist(),
            found[1]["param_id"].tolist(),
            _param_values(found[1], px4=px4),
            strict=True,
        ):
            trail.add(t_s, pid.split(b"\0", 1)[0].decode("ascii", "replace"), value)
    vehicle: dict[str, str] = {}
    if (found := of("AUTOPILOT_VERSION")) is not None:
        uids = found[1]["uid"][found[1]["uid"] != 0]
        if len(uids):
            vehicle["uid"] = f"{int(uids[0]):016x}"
    if autopilot is not None:
        vehicle["system_id"] = str(autopilot)
        vehicle["mav_type"], vehicle["mav_autopilot"] = str(mav_type), str(mav_autopilot)
    last = max(float(d[0][-1]) for d in decoded.values() if len(d[0]))
    return LogData(
        format=LogFormat.TLOG,
        signals=signals,
        start_utc=datetime.fromtimestamp(first, UTC) if first > _EPOCH_2000 else None,
        vehicle=vehicle,
        firmware=firmware,
        parameters=trail.initial,
        parameter_changes=trail.changes,
        warnings=warnings,
        duration_s=last - first,
    )
