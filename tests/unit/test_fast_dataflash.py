"""The vectorised DataFlash reader against pymavlink's DFReader, on the real logs."""

from __future__ import annotations

import contextlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from pymavlink import DFReader

from dronecoop.logs import model as m
from dronecoop.logs.fast_dataflash import read_dataflash_fast
from dronecoop.logs.readers import read_dataflash
from tests.conftest import shared_file


@pytest.mark.parametrize("name", ["pilot_0004.BIN", "center_0003.bin", "test.BIN"])
def test_every_signal_matches_dfreader(name: str) -> None:
    path = shared_file(f"data/logs/{name}")
    reference, fast = read_dataflash(path), read_dataflash_fast(path)
    assert sorted(fast.signals) == sorted(reference.signals)
    assert fast.signals  # something was read
    for key, expected in reference.signals.items():
        got = fast.signals[key]
        assert got.source == expected.source, key
        assert len(got.v) == len(expected.v), key
        np.testing.assert_allclose(got.v, expected.v, rtol=1e-7, err_msg=key)
        np.testing.assert_allclose(got.t, expected.t, atol=1e-6, err_msg=key)
    assert fast.firmware == reference.firmware
    assert fast.vehicle == reference.vehicle
    assert fast.parameters == reference.parameters
    assert fast.parameter_changes == reference.parameter_changes
    assert fast.duration_s == pytest.approx(reference.duration_s)


def test_outputs_15_and_16_come_from_rco2(tmp_path: Path) -> None:
    """test.BIN (RCOU outputs 1-14), cut at its last whole message, with RCO2 records
    appended after it (their FMT first), as ArduPilot logs outputs 15-18."""
    source = shared_file("data/logs/test.BIN")
    [stopped] = [w for w in read_dataflash_fast(source).warnings if w.startswith("stopped")]
    whole = int(re.search(r"at byte (\d+)", stopped).group(1))  # type: ignore[union-attr]
    original = source.read_bytes()[:whole]
    reader = DFReader.DFReader_binary(str(source))
    try:  # the log's first time stamp, as DFReader reads it
        first_us = next(
            msg.TimeUS for msg in iter(reader.recv_msg, None) if getattr(msg, "TimeUS", None)
        )
    finally:
        with contextlib.suppress(BufferError):  # messages may still view its memory map
            reader.close()
        reader.filehandle.close()
    duration_us = int(read_dataflash(source).duration_s * 1e6)
    rco2 = 250  # a type id the log does not define
    fmt = struct.pack(
        "<BBBBB4s16s64s", 0xA3, 0x95, 0x80, rco2, 19, b"RCO2", b"QHHHH", b"TimeUS,C15,C16,C17,C18"
    )
    records = b"".join(
        struct.pack("<BBBQHHHH", 0xA3, 0x95, rco2, first_us + duration_us + k * 100_000,
                    1500 + k, 1600, 0, 0)
        for k in range(10)
    )  # fmt: skip
    path = tmp_path / "rco2.bin"
    path.write_bytes(original + fmt + records)
    reference, fast = read_dataflash(path), read_dataflash_fast(path)
    assert fast.duration_s == pytest.approx(reference.duration_s)
    assert fast.duration_s == pytest.approx(duration_us / 1e6 + 0.9, abs=1e-3)
    for data in (reference, fast):
        assert data.signals[m.output(1)].source == "RCOU.C1"  # RCOU read beside RCO2
        for channel, first in ((15, 1500.0), (16, 1600.0)):
            signal = data.signals[m.output(channel)]
            assert signal.source == f"RCO2.C{channel}"
            assert signal.v[0] == first
            assert len(signal.v) == 10
            assert signal.t[0] == pytest.approx(duration_us / 1e6, abs=1e-3)
