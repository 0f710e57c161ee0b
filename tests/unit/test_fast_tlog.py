"""The vectorised tlog reader against pymavlink, message for message, on the real logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dronecoop.logs.analysis import analyse
from dronecoop.logs.fast_tlog import read_tlog_fast
from dronecoop.logs.readers import LogFormatError, read_tlog
from tests.conftest import shared_file


@pytest.mark.parametrize("name", ["flight.tlog", "vtol.tlog"])
def test_every_signal_matches_pymavlink(name: str) -> None:
    path = shared_file(f"data/logs/{name}")
    reference, fast = read_tlog(path), read_tlog_fast(path)
    assert sorted(fast.signals) == sorted(reference.signals)
    for key, expected in reference.signals.items():
        got = fast.signals[key]
        assert got.source == expected.source, key
        assert len(got.v) == len(expected.v), key  # the same messages, none more or fewer
        np.testing.assert_allclose(got.v, expected.v, rtol=1e-7, err_msg=key)
        np.testing.assert_allclose(got.t, expected.t, atol=1e-5, err_msg=key)
    assert fast.firmware == reference.firmware
    assert fast.vehicle == reference.vehicle
    assert fast.parameters == reference.parameters
    assert [(n, v) for _, n, v in fast.parameter_changes] == [
        (n, v) for _, n, v in reference.parameter_changes
    ]
    assert fast.duration_s == pytest.approx(reference.duration_s, abs=1e-5)
    assert analyse(fast).cycles == analyse(reference).cycles


def test_damaged_frames_are_dropped_by_their_crc(tmp_path: Path) -> None:
    original = bytearray(shared_file("data/logs/vtol.tlog").read_bytes())
    reference = read_tlog_fast(shared_file("data/logs/vtol.tlog"))
    damaged = bytearray(original)
    for offset in range(5_000, len(damaged), 50_000):  # a byte flipped every 50 kB
        damaged[offset] ^= 0xFF
    path = tmp_path / "damaged.tlog"
    path.write_bytes(bytes(damaged))
    data = read_tlog_fast(path)
    assert any("damaged MAVLink frames" in w for w in data.warnings)
    kept = sum(len(s.v) for s in data.signals.values())
    assert 0 < kept <= sum(len(s.v) for s in reference.signals.values())
    garbage = tmp_path / "garbage.tlog"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LogFormatError, match="no MAVLink messages"):
        read_tlog_fast(garbage)


def test_parameters_are_as_the_log_starts_and_changes_follow() -> None:
    data = read_tlog_fast(shared_file("data/logs/vtol.tlog"))
    assert data.parameter_changes
    _, name, changed_to = data.parameter_changes[0]
    assert data.parameters[name] != changed_to  # the first value, not the last
