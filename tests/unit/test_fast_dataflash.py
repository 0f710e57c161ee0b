"""The vectorised DataFlash reader against pymavlink's DFReader, on the real logs."""

from __future__ import annotations

import numpy as np
import pytest

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
