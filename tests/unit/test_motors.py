"""Motor outputs: which outputs drive which motor, and the saturation and imbalance
findings, on the real logs and on real logs with one motor made to misbehave."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dronecoop.logs import model as m
from dronecoop.logs.analysis import analyse, find_flights, motors
from dronecoop.logs.model import LogData, LogFormat, Severity, Signal
from dronecoop.logs.readers import read_log
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def quad() -> LogData:
    """ArduCopter 3.4 quad, 11 flights: no SERVOn_FUNCTION yet, motors on outputs 1-4."""
    return read_log(shared_file("data/logs/flight.tlog"))


def _motor_findings(data: LogData) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for f in analyse(data).findings:
        if f.code.startswith("motors."):
            found.setdefault(f.code, []).append(f)
    return found


def _with_output(data: LogData, channel: int, values: np.ndarray) -> LogData:
    old = data.signals[m.output(channel)]
    signals = dict(data.signals) | {m.output(channel): Signal(old.t, values, old.source)}
    return dataclasses.replace(data, signals=signals)


def test_the_quad_has_four_motors_on_its_first_outputs_and_they_are_balanced(
    quad: LogData,
) -> None:
    found = motors(quad)
    assert found is not None
    assert found.numbers == [1, 2, 3, 4]
    assert found.mapping.startswith("MAV_TYPE 2")  # quadrotor
    assert found.pwm_ranges == [(968.0, 2060.0)] * 4  # RC3_MIN / RC3_MAX: Copter 3.4
    assert [s.source for s in found.signals] == [
        f"SERVO_OUTPUT_RAW.servo{k}_raw" for k in range(1, 5)
    ]
    assert _motor_findings(quad) == {}  # a healthy quad: averages within 75 µs


def test_a_motor_working_harder_than_the_others_is_an_imbalance(quad: LogData) -> None:
    base = quad.signals[m.output(3)].v
    warned = _motor_findings(_with_output(quad, 3, base + 100))  # 100 µs above the rest
    [finding] = warned["motors.imbalance"]
    assert finding.severity is Severity.WARNING  # type: ignore[attr-defined]
    assert finding.evidence["motor"] == 3  # type: ignore[attr-defined]
    assert 75 < finding.evidence["spread_us"] < 150  # type: ignore[attr-defined]
    assert "LogAnalyzer" in finding.threshold  # type: ignore[attr-defined]
    [failed] = _motor_findings(_with_output(quad, 3, base + 200))["motors.imbalance"]
    assert failed.severity is Severity.CRITICAL  # type: ignore[attr-defined]


def test_a_motor_held_at_full_output_is_saturation(quad: LogData) -> None:
    flight = find_flights(quad)[3]
    signal = quad.signals[m.output(2)]
    mid = (flight.armed_s + flight.disarmed_s) / 2
    held = (signal.t >= mid) & (signal.t <= mid + 3)  # three seconds at 2,050 of 2,060 µs
    [finding] = _motor_findings(_with_output(quad, 2, np.where(held, 2050.0, signal.v)))[
        "motors.saturation"
    ]
    assert finding.severity is Severity.CRITICAL  # type: ignore[attr-defined]
    assert finding.evidence["motor"] == 2  # type: ignore[attr-defined]
    assert mid - 1 <= finding.start_s <= mid + 1  # type: ignore[attr-defined]
    high = np.where(held, 968 + 0.92 * 1092, signal.v)  # 92 %: no margin, not yet saturated
    [warning] = _motor_findings(_with_output(quad, 2, high))["motors.saturation"]
    assert warning.severity is Severity.WARNING  # type: ignore[attr-defined]
    blip = (signal.t >= mid) & (signal.t <= mid + 0.4)  # under a second: a gust, not a finding
    assert "motors.saturation" not in _motor_findings(
        _with_output(quad, 2, np.where(blip, 2050.0, signal.v))
    )


def test_a_quadplane_tricopter_maps_its_motors_by_function_and_leaves_the_tail_servo() -> None:
    data = read_log(shared_file("data/logs/vtol.tlog"))
    found = motors(data)
    assert found is not None
    assert found.mapping == "SERVOn_FUNCTION"
    # SERVO5/6/7_FUNCTION 33/34/36 are motors 1, 2 and 4 (SERVO8 repeats 36: the first
    # output of a function is the motor's); SERVO11 (39, "motor 7") is the tricopter's
    # tail servo, not a motor.
    assert found.numbers == [1, 2, 4]
    assert [s.source for s in found.signals] == [
        "SERVO_OUTPUT_RAW.servo5_raw",
        "SERVO_OUTPUT_RAW.servo6_raw",
        "SERVO_OUTPUT_RAW.servo7_raw",
    ]
    assert found.pwm_ranges == [(1100.0, 1900.0)] * 3  # Q_M_PWM_* unset: RC3_MIN/MAX


def test_a_plane_has_no_lift_motors_to_judge() -> None:
    data = read_log(shared_file("data/logs/test.BIN"))  # ArduPlane: SERVO3 is the throttle
    assert m.output(3) in data.signals
    assert motors(data) is None


def test_px4_normalised_motor_commands_are_judged_directly() -> None:
    t = np.arange(0, 60, 0.1)
    flying = (t > 5) & (t < 55)
    level = np.where(flying, 0.55, 0.0)
    signals = {
        m.ARMED: Signal(np.array([0.0, 2.0, 58.0]), np.array([0.0, 1.0, 0.0]), "armed"),
        **{m.motor(i): Signal(t, level.copy(), f"actuator_motors.{i - 1}") for i in range(1, 5)},
    }
    signals[m.motor(4)] = Signal(t, np.where(flying, 0.75, 0.0), "actuator_motors.3")
    data = LogData(format=LogFormat.ULOG, signals=signals, duration_s=60.0)
    found = motors(data)
    assert found is not None
    assert found.pwm_ranges is None
    [finding] = [f for f in analyse(data).findings if f.code == "motors.imbalance"]
    assert finding.evidence["motor"] == 4
    assert finding.evidence["spread_us"] == pytest.approx(200.0)  # 20 % of a 1000 µs range
    assert finding.severity is Severity.CRITICAL


def test_ardupilot_motor_range_is_mot_pwm_else_the_throttle_input_never_the_servo(
    quad: LogData,
) -> None:
    mapped = {f"SERVO{n}_FUNCTION": 32.0 + n for n in range(1, 5)}  # motors 1-4 on 1-4
    params = mapped | {"MOT_PWM_MIN": 0.0, "MOT_PWM_MAX": 0.0, "RC3_MIN": 1100.0,
                       "RC3_MAX": 1900.0, "SERVO1_MIN": 1000.0, "SERVO1_MAX": 2000.0}  # fmt: skip
    found = motors(dataclasses.replace(quad, parameters=params))
    assert found is not None
    assert found.pwm_ranges == [(1100.0, 1900.0)] * 4  # Copter 3.5+: MOT_PWM_* 0 -> RC3
    both = params | {"MOT_PWM_MIN": 1000.0, "MOT_PWM_MAX": 2000.0}
    found = motors(dataclasses.replace(quad, parameters=both))
    assert found is not None
    assert found.pwm_ranges == [(1000.0, 2000.0)] * 4


def test_helicopters_and_single_copters_have_no_comparable_motors(quad: LogData) -> None:
    mapped = {f"SERVO{n}_FUNCTION": 32.0 + n for n in range(1, 5)}
    for frame_class in (6, 8, 9, 11, 13):  # heli, single, coax, dual heli, heli quad
        params = mapped | {"FRAME_CLASS": float(frame_class)}
        assert motors(dataclasses.replace(quad, parameters=params)) is None, frame_class


def test_a_px4_vtol_pusher_is_not_a_lift_motor() -> None:
    t = np.arange(0, 20, 0.1)
    signals = {m.motor(i): Signal(t, np.full(len(t), 0.5), f"actuator_motors.{i - 1}")
               for i in range(1, 6)}  # fmt: skip
    params = {"MAV_TYPE": 22.0} | {f"CA_ROTOR{i}_AX": 0.0 for i in range(4)}
    params["CA_ROTOR4_AX"] = 1.0  # the fifth rotor pushes forward
    found = motors(LogData(format=LogFormat.ULOG, signals=signals, parameters=params))
    assert found is not None
    assert found.numbers == [1, 2, 3, 4]
    plane = {"MAV_TYPE": 1.0}
    assert motors(LogData(format=LogFormat.ULOG, signals=signals, parameters=plane)) is None
