"""MAVLink details both tlog readers must agree on, in logs written here with pymavlink's
own MAVLink 2 encoder: SERVO_OUTPUT_RAW's extension fields and ports (which differ between
ArduPilot and PX4) and PX4's byte-wise integer parameters."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from dronecoop.logs import model as m
from dronecoop.logs.analysis import analyse, motors
from dronecoop.logs.fast_tlog import read_tlog_fast
from dronecoop.logs.readers import param_value, read_tlog

START_US = 1_700_000_000_000_000
ARDUPILOT, PX4 = 3, 12
QUADROTOR = 2
INT32, REAL32 = 6, 9


def _bytewise(number: int) -> float:
    """An integer as PX4 puts it in PARAM_VALUE's float field: its bytes."""
    value: float = struct.unpack("<f", struct.pack("<i", number))[0]
    return value


def write_tlog(path: Path, autopilot: int, params: list[tuple[str, float, int]]) -> None:
    mav = mavlink2.MAVLink(None, srcSystem=1, srcComponent=1)
    records = []

    def put(t_s: float, msg: object) -> None:
        stamp = START_US + int(t_s * 1e6)
        records.append(stamp.to_bytes(8, "big") + msg.pack(mav))  # type: ignore[attr-defined]

    for k, (name, value, kind) in enumerate(params):
        put(0.01 * k, mav.param_value_encode(name.encode(), value, kind, len(params), k))
    for i in range(600):  # 60 s at 10 Hz: armed from 2 s to 58 s, hovering at 1500 µs
        t = i * 0.1
        armed = 2 <= t < 58
        mode = mavlink2.MAV_MODE_FLAG_SAFETY_ARMED if armed else 0
        if i % 10 == 0:
            put(t, mav.heartbeat_encode(QUADROTOR, autopilot, mode, 0, 4))
        pwm = 1500 if armed else 1000
        main = [pwm, pwm, pwm, pwm + 200 if armed else pwm, 0, 0, 0, 0]
        extension = [1234] * 8  # outputs 9-16 in MAVLink 2's extension fields
        put(t, mav.servo_output_raw_encode(int(t * 1e6), 0, *main, *extension))
        put(t, mav.servo_output_raw_encode(int(t * 1e6), 1, *([1700] * 8), *([0] * 8)))
    path.write_bytes(b"".join(records))


def _same(path: Path) -> tuple[m.LogData, m.LogData]:
    reference, fast = read_tlog(path), read_tlog_fast(path)
    assert sorted(fast.signals) == sorted(reference.signals)
    for key, expected in reference.signals.items():
        np.testing.assert_allclose(fast.signals[key].v, expected.v, err_msg=key)
        np.testing.assert_allclose(fast.signals[key].t, expected.t, atol=1e-6, err_msg=key)
        assert fast.signals[key].source == expected.source
    assert fast.parameters == reference.parameters
    return reference, fast


def test_px4_integer_parameters_and_aux_outputs(tmp_path: Path) -> None:
    path = tmp_path / "px4.tlog"
    params = [
        ("PWM_MAIN_MIN", _bytewise(1100), INT32),
        ("PWM_MAIN_MAX", _bytewise(1900), INT32),
        ("MPC_THR_HOVER", 0.5, REAL32),
    ]
    write_tlog(path, PX4, params)
    _, fast = _same(path)
    assert fast.parameters["PWM_MAIN_MIN"] == 1100.0  # not 1.5e-42
    assert fast.parameters["MPC_THR_HOVER"] == pytest.approx(0.5)
    assert fast.signals[m.output(9)].v[0] == 1700  # PX4's port 1: its AUX outputs
    found = motors(fast)
    assert found is not None
    assert found.pwm_ranges == [(1100.0, 1900.0)] * 4
    codes = {f.code: f for f in analyse(fast).findings}
    assert "motors.saturation" not in codes  # 1500 of 1100-1900 µs: half, not saturated
    assert codes["motors.imbalance"].evidence["motor"] == 4  # 200 µs above the others


def test_ardupilot_extension_outputs_and_port_one_left_out(tmp_path: Path) -> None:
    path = tmp_path / "ardupilot.tlog"
    write_tlog(path, ARDUPILOT, [("RC3_MIN", 1000.0, REAL32), ("RC3_MAX", 2000.0, REAL32)])
    _, fast = _same(path)
    assert fast.signals[m.output(9)].v[0] == 1234  # port 0's extension field servo9_raw
    assert set(fast.signals[m.output(9)].v) == {1234.0}  # port 1 (outputs 17-32) not mixed in


def test_a_byte_wise_value_is_read_only_for_integer_types() -> None:
    assert param_value(_bytewise(-5), INT32, bytewise=True) == -5
    assert param_value(2.5, REAL32, bytewise=True) == 2.5
    assert param_value(1100.0, INT32, bytewise=False) == 1100.0  # ArduPilot casts
