#!/usr/bin/env python3
"""Flight-log ingest + analysis time per file, against each format's bare reader.

For every log in the shared folder (``../shared/data/logs`` beside this checkout, or
``--dir``), in the same run, best of ``--repeat`` runs each:

- **ours**: ``logs.readers.read_log`` + ``logs.analysis.analyse`` (format detection,
  every signal dronecoop uses, flights, findings) — what an upload costs;
- **baseline**: the format's own reader doing a bare pass over the file: pyulog
  ``ULog(path)`` for ULog; pymavlink ``DFReader_binary`` reading every message for
  DataFlash; pymavlink ``mavmmaplog`` reading every message for tlogs.

Goals (issue 5): ULog full analysis within 1.5x of pyulog's bare parse; DataFlash and
tlog at least 10x faster than pymavlink.

Usage::

    .venv/bin/python bench/logs.py [--dir ../shared/data/logs] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import print_table
from dronecoop.logs.analysis import analyse
from dronecoop.logs.model import LogFormat
from dronecoop.logs.readers import detect_format, read_log

GOALS = {LogFormat.ULOG: "ours <= 1.5x", LogFormat.DATAFLASH: ">= 10x", LogFormat.TLOG: ">= 10x"}


def baseline(kind: LogFormat, path: Path) -> Callable[[], object]:
    def ulog() -> object:
        from pyulog import ULog

        return ULog(str(path))

    def dataflash() -> object:
        from pymavlink import DFReader

        reader = DFReader.DFReader_binary(str(path), zero_time_base=True)
        count = 0
        while reader.recv_msg() is not None:
            count += 1
        return count

    def tlog() -> object:
        from pymavlink import mavutil

        log = mavutil.mavmmaplog(str(path))
        count = 0
        while log.recv_msg() is not None:
            count += 1
        log.close()
        return count

    return {LogFormat.ULOG: ulog, LogFormat.DATAFLASH: dataflash, LogFormat.TLOG: tlog}[kind]


def best(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best times of both, their runs interleaved (ours, theirs, ours, ...): a slow spell of
    a shared machine then hits both sides, not one of them."""
    mine, baseline = [], []
    for _ in range(repeat):
        for run, times in ((ours, mine), (theirs, baseline)):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
    return min(mine), min(baseline)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "logs"
    parser.add_argument("--dir", type=Path, default=default_dir)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = sorted(p for p in args.dir.iterdir() if p.suffix.lower() in {".ulg", ".bin", ".tlog"})
    if not files:
        sys.exit(f"no logs in {args.dir}")
    rows = []
    for path in files:
        kind = detect_format(path.read_bytes()[:64], path.name)
        size_mb = path.stat().st_size / 1e6
        ours, theirs = best(lambda p=path: analyse(read_log(p)), baseline(kind, path), args.repeat)
        rows.append(
            (
                path.name, kind.value, f"{size_mb:.2f}", f"{ours * 1000:.0f}",
                f"{size_mb / ours:.1f}", f"{theirs * 1000:.0f}", f"{ours / theirs:.2f}x",
                f"{theirs / ours:.1f}x", GOALS[kind],
            )
        )  # fmt: skip
    print_table(
        "flight-log ingest + analysis vs the bare reader (best of runs, same machine, same run)",
        ["log", "format", "MB", "ours ms", "ours MB/s", "baseline ms", "ours / baseline",
         "speed-up", "goal"],
        rows,
        caption="baseline: pyulog ULog() (ULog), pymavlink DFReader_binary every message "
        "(DataFlash), pymavlink mavmmaplog every message (tlog)",
    )  # fmt: skip


if __name__ == "__main__":
    main()
