"""The vectorised DataFlash reader against pymavlink's DFReader, on the real logs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

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
    """center_0003.bin with RCO2 messages appended (their FMT first), as ArduPilot logs outputs
    15-18 of a vehicle with more than 14."""
    original = shared_file("data/logs/center_0003.bin").read_bytes()
    last_us = int(read_dataflash(shared_file("data/logs/center_0003.bin")).duration_s * 1e6)
    rco2 = 250  # a type id the log does not define
    fmt = struct.pack(
        "<BBBBB4s16s64s", 0xA3, 0x95, 0x80, rco2, 19, b"RCO2", b"QHHHH", b"TimeUS,C15,C16,C17,C18"
    )
    first_us = int.from_bytes(original[3:11], "little")  # any real stamp will do as a base
    records = b"".join(
        struct.pack("<BBBQHHHH", 0xA3, 0x95, rco2, first_us + last_us + k * 100_000,
                    1500 + k, 1600, 0, 0)
        for k in range(10)
    )  # fmt: skip
    path = tmp_path / "rco2.bin"
    path.write_bytes(original + fmt + records)
    reference, fast = read_dataflash(path), read_dataflash_fast(path)
    for channel, first in ((15, 1500.0), (16, 1600.0)):
        for data in (reference, fast):
            signal = data.signals[m.output(channel)]
            assert signal.source == f"RCO2.C{channel}"
            assert signal.v[0] == first
            assert len(signal.v) == 10
        np.testing.assert_allclose(
            fast.signals[m.output(channel)].t, reference.signals[m.output(channel)].t, atol=1e-6
        )
