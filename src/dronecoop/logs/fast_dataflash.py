"""A vectorised ArduPilot DataFlash (``.bin``) reader: the same signals as
``readers.read_dataflash`` (pymavlink DFReader), much faster.

A DataFlash log is a stream of fixed-length messages (``0xA3 0x95``, a type byte, the
fields), their layouts given in the log itself by FMT messages. One pass finds the
messages (and the FMTs, as they come); the few types dronecoop reads are then decoded at
once with numpy dtypes built from their FMT, scaled as pymavlink scales them
(``DFReader.FORMAT_TO_STRUCT``). Bytes that are not a message start are skipped and
counted. ``tests/unit/test_fast_dataflash.py`` checks it against DFReader on the real logs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymavlink.DFReader import FORMAT_TO_STRUCT

from dronecoop.logs import model as m
from dronecoop.logs.model import LogData, LogFormat, ParameterTrail, Signal

HEAD1, HEAD2, FMT_TYPE = 0xA3, 0x95, 0x80
WANTED = ("ARM", "EV", "GPS", "BAT", "VIBE", "MSG", "PARM", "POS", "XKF4", "NKF4", "RCOU", "RCO2")
_NUMPY = {
    "b": "i1", "B": "u1", "h": "<i2", "H": "<u2", "i": "<i4", "I": "<u4", "f": "<f4",
    "d": "<f8", "q": "<i8", "Q": "<u8", "e": "<f2",
}  # fmt: skip
EV_ARMED, EV_DISARMED = 10, 11
# The columns each type must have to be read (a damaged FMT may name others).
REQUIRED = {
    "ARM": {"ArmState"}, "EV": {"Id"}, "GPS": {"Lat", "Lng", "Alt"}, "POS": set(),
    "BAT": {"Volt", "Curr", "CurrTot"}, "VIBE": {"VibeX", "VibeY", "VibeZ"},
    "MSG": {"Message"}, "PARM": {"Name", "Value"}, "XKF4": set(), "NKF4": set(),
    "RCOU": set(), "RCO2": set(),
}  # fmt: skip
TEXT = {"MSG": {"Message"}, "PARM": {"Name"}}  # columns that must be text


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    length: int
    dtype: np.dtype[Any]
    scale: dict[str, float]
    strings: frozenset[str]


def _format(name: str, length: int, fmt: str, columns: list[str]) -> _Format | None:
    fields: list[tuple[Any, ...]] = []
    scale: dict[str, float] = {}
    strings = set()
    for code, column in zip(fmt, columns, strict=False):
        struct_code, multiplier, _kind = FORMAT_TO_STRUCT.get(code, (None, None, None))
        if struct_code is None:
            return None
        if struct_code.endswith("s"):
            fields.append((column, f"S{struct_code[:-1]}"))
            strings.add(column)
            continue
        fields.append((column, _NUMPY["b" if code == "M" else struct_code]))
        if multiplier is not None:
            scale[column] = multiplier
    try:
        dtype = np.dtype(fields)
    except (TypeError, ValueError):  # repeated or empty column names: a damaged FMT
        return None
    if dtype.itemsize + 3 != length:
        return None  # the FMT does not add up: leave the type unread
    return _Format(name, length, dtype, scale, frozenset(strings))


def _usable(f: _Format) -> bool:
    names = set(f.dtype.names or ())
    return (
        "TimeUS" in names
        and REQUIRED[f.name] <= names
        and TEXT.get(f.name, set()) <= set(f.strings)
        and not (set(REQUIRED[f.name]) - TEXT.get(f.name, set())) & set(f.strings)
    )


def read_dataflash_fast(path: Path) -> LogData:
    from dronecoop.logs.readers import LogFormatError

    try:
        return _read(path)
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # damaged past its checks
        raise LogFormatError(f"{path.name}: DataFlash log damaged beyond reading ({exc})") from exc


def _read(path: Path) -> LogData:
    from dronecoop.logs.readers import LogFormatError, _board_line, rcou_column

    raw = path.read_bytes()
    buf = np.frombuffer(raw, dtype=np.uint8)
    lengths = [0] * 256  # by message type; 0: not defined (yet)
    lengths[FMT_TYPE] = 89
    keep = [False] * 256  # the types whose messages are read
    formats: dict[int, _Format] = {}
    offsets: dict[int, list[int]] = defaultdict(list)
    wanted = set(WANTED)
    wanted_names = {name.encode() for name in WANTED}
    redefined: set[str] = set()
    stopped_types: set[int] = set()
    head = bytes((HEAD1, HEAD2))
    pos, end, skipped = 0, len(raw), 0
    while pos + 3 <= end:
        if raw[pos] != HEAD1 or raw[pos + 1] != HEAD2:
            found = raw.find(head, pos + 1)
            found = end if found < 0 else found
            skipped += found - pos
            pos = found
            continue
        kind = raw[pos + 2]
        length = lengths[kind]
        if not length:
            pos += 1
            skipped += 1
            continue
        if pos + length > end:
            break
        if keep[kind]:
            offsets[kind].append(pos)
        elif kind == FMT_TYPE:
            ftype, flength = raw[pos + 3], raw[pos + 4]
            raw_name = raw[pos + 5 : pos + 9].split(b"\0", 1)[0]
            if ftype != FMT_TYPE and flength >= 3:  # a damaged FMT must not stall the walk
                lengths[ftype] = flength
                if raw_name not in wanted_names and ftype not in formats and ftype not in offsets:
                    pos += length
                    continue  # a type not read, never read before: only its length matters
                name = raw_name.decode("ascii", "replace")
                fmt = raw[pos + 9 : pos + 25].split(b"\0", 1)[0].decode("ascii", "replace")
                cols = raw[pos + 25 : pos + 89].split(b"\0", 1)[0].decode("ascii", "replace")
                parsed = _format(name, flength, fmt, cols.split(",")) if name in wanted else None
                if offsets.get(ftype) and parsed != formats.get(ftype):
                    # Redefined mid-log: what came before keeps its own format; what comes
                    # after is not read (a warning says so) rather than read wrongly.
                    redefined.add(formats[ftype].name if ftype in formats else str(ftype))
                    stopped_types.add(ftype)
                elif parsed is not None and _usable(parsed):
                    formats[ftype] = parsed
                else:
                    formats.pop(ftype, None)
                keep[ftype] = ftype in formats and ftype not in stopped_types
        pos += length
    decoded: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
    for kind, where in offsets.items():
        if kind not in formats:
            continue
        f = formats[kind]
        starts = np.asarray(where, dtype=np.int64)
        rows = buf[starts[:, None] + np.arange(3, f.length)[None, :]]
        decoded[f.name] = (starts, np.ascontiguousarray(rows).view(f.dtype).reshape(-1))
    timed = [(s, d) for s, d in decoded.values() if "TimeUS" in (d.dtype.names or ())]
    if not timed:
        raise LogFormatError(f"{path.name}: no timed DataFlash messages")
    first_at = min(int(s[0]) for s, _ in timed if len(s))
    first_us = next(float(d["TimeUS"][0]) for s, d in timed if len(s) and int(s[0]) == first_at)
    last_s = max(float(d["TimeUS"].max() - first_us) / 1e6 for _, d in timed if len(d))
    signals: dict[str, Signal] = {}

    def field(name: str, data: np.ndarray[Any, Any], column: str) -> np.ndarray[Any, Any]:
        values = data[column].astype(np.float64)
        multiplier = formats_by_name[name].scale.get(column)
        return values * multiplier if multiplier is not None else values

    formats_by_name = {f.name: f for f in formats.values()}

    def put(key: str, t: np.ndarray[Any, Any], v: np.ndarray[Any, Any], source: str) -> None:
        finite = np.isfinite(v)
        if np.any(finite):
            signals[key] = Signal(t[finite], v[finite], source)

    def times(data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return (data["TimeUS"].astype(np.float64) - first_us) / 1e6

    def has(data: np.ndarray[Any, Any], column: str) -> bool:
        """The column is there and numeric (a damaged FMT may make it text)."""
        names = data.dtype.names or ()
        return column in names and data.dtype[column].kind in "biuf"

    if "ARM" in decoded:
        d = decoded["ARM"][1]
        put(m.ARMED, times(d), (d["ArmState"] != 0).astype(np.float64), "ARM.ArmState")
    elif "EV" in decoded:
        d = decoded["EV"][1]
        rows = np.isin(d["Id"], (EV_ARMED, EV_DISARMED))
        put(m.ARMED, times(d)[rows], (d["Id"][rows] == EV_ARMED).astype(np.float64), "EV.Id")
    if "GPS" in decoded:
        d = decoded["GPS"][1]
        rows = d["Status"] >= 3 if has(d, "Status") else np.ones(len(d), dtype=bool)
        t = times(d)[rows]
        put(m.LAT, t, field("GPS", d, "Lat")[rows], "GPS.Lat")
        put(m.LON, t, field("GPS", d, "Lng")[rows], "GPS.Lng")
        put(m.ALT_AMSL, t, field("GPS", d, "Alt")[rows], "GPS.Alt")
        if has(d, "NSats"):
            put(m.SATS, t, field("GPS", d, "NSats")[rows], "GPS.NSats")
        if has(d, "HDop"):
            put(m.HDOP, t, field("GPS", d, "HDop")[rows], "GPS.HDop")
        if has(d, "Spd"):
            put(m.SPEED, t, field("GPS", d, "Spd")[rows], "GPS.Spd")
    for outputs in ("RCOU", "RCO2"):  # RCO2: outputs 15-18 (C15..C18)
        if outputs not in decoded:
            continue
        d = decoded[outputs][1]
        for channel in range(1, m.MAX_OUTPUTS + 1):
            column = rcou_column(d.dtype.names or (), channel)
            if column is not None and has(d, column):
                values = field(outputs, d, column)
                put(m.output(channel), times(d), values, f"{outputs}.{column}")
    if "POS" in decoded and has(decoded["POS"][1], "RelHomeAlt"):
        d = decoded["POS"][1]
        put(m.ALT_REL, times(d), field("POS", d, "RelHomeAlt"), "POS.RelHomeAlt")
    if "BAT" in decoded:
        d = decoded["BAT"][1]
        rows = d["Instance"] == 0 if has(d, "Instance") else np.ones(len(d), dtype=bool)
        t = times(d)[rows]
        put(m.VOLTAGE, t, field("BAT", d, "Volt")[rows], "BAT.Volt")
        put(m.CURRENT, t, field("BAT", d, "Curr")[rows], "BAT.Curr")
        put(m.CONSUMED, t, field("BAT", d, "CurrTot")[rows], "BAT.CurrTot")
    if "VIBE" in decoded:
        d = decoded["VIBE"][1]
        rows = d["IMU"] == 0 if has(d, "IMU") else np.ones(len(d), dtype=bool)
        t = times(d)[rows]
        for axis, key in zip("XYZ", m.VIBE, strict=True):
            put(key, t, field("VIBE", d, f"Vibe{axis}")[rows], f"VIBE.Vibe{axis}")
        for k, key in enumerate(m.CLIP):
            column = (
                f"Clip{k}"
                if has(d, f"Clip{k}")
                else ("Clip" if k == 0 and has(d, "Clip") else None)
            )
            if column is not None:
                put(key, t, field("VIBE", d, column)[rows], f"VIBE.{column}")
    ekf_kind = "XKF4" if "XKF4" in decoded else "NKF4" if "NKF4" in decoded else None
    if ekf_kind is not None:  # EKF3 if logged, else EKF2; core 0
        d = decoded[ekf_kind][1]
        rows = d["C"] == 0 if has(d, "C") else np.ones(len(d), dtype=bool)
        for column, key in (
            ("SV", "ekf_vel"),
            ("SP", "ekf_pos"),
            ("SH", "ekf_hgt"),
            ("SM", "ekf_mag"),
        ):
            if has(d, column):
                put(key, times(d)[rows], field(ekf_kind, d, column)[rows], f"{ekf_kind}.{column}")
    firmware, vehicle = "", {}
    if "MSG" in decoded:
        for text in decoded["MSG"][1]["Message"].tolist():
            line = text.split(b"\0", 1)[0].decode("ascii", "replace")
            if not firmware and line.startswith(("Ardu", "APM:")):
                firmware = line
            elif firmware and "board" not in vehicle and _board_line(line):
                vehicle["board"], *uid = line.split()
                vehicle["uid"] = "".join(uid)
    trail = ParameterTrail()
    if "PARM" in decoded:
        d = decoded["PARM"][1]
        for t_s, raw_name, value in zip(  # as Python lists: no numpy scalar per item
            times(d).tolist(),
            d["Name"].tolist(),
            d["Value"].astype(np.float64).tolist(),
            strict=True,
        ):
            trail.add(t_s, raw_name.split(b"\0", 1)[0].decode("ascii", "replace"), value)
    warnings = [f"skipped {skipped} bytes that were not DataFlash messages"] if skipped else []
    warnings += [f"{name} redefined mid-log: read up to its redefinition" for name in redefined]
    if pos < end - 3:
        warnings.append(f"stopped reading at byte {pos} of {end} (truncated)")
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
