"""Real flight logs read and analysed: facts the logs are known to hold, and no crash on
damaged ones (mutated real logs)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dronecoop.logs.analysis import analyse, lifetime_flight_s
from dronecoop.logs.model import LogFormat, Severity
from dronecoop.logs.readers import LogFormatError, detect_format, read_log
from tests.conftest import shared_file


def test_the_tlog_holds_eleven_flights_and_its_z_vibration_is_flagged() -> None:
    report = analyse(read_log(shared_file("data/logs/flight.tlog")))
    assert report.format is LogFormat.TLOG
    assert report.cycles == 11
    assert report.firmware.startswith("APM:Copter V3.4-dev")
    assert 2400 < report.duration_s < 2500
    assert all(f.disarmed_s > f.armed_s for f in report.flights)
    assert 0 < report.airborne_s < sum(f.armed_duration_s for f in report.flights)
    [z] = [f for f in report.findings if f.code == "vibration.z"]
    assert z.evidence["source"] == "VIBRATION.vibration_z"
    assert z.evidence["p95"] > 30  # above the ArduPilot line
    assert z.severity in (Severity.WARNING, Severity.CRITICAL)
    assert "ArduPilot" in z.threshold
    [sag] = [f for f in report.findings if f.code == "battery.sag"]
    assert sag.evidence["cells"] == 3
    assert sag.evidence["min_v"] == pytest.approx(8.48, abs=0.01)  # 3S pack 12.45 -> 8.48 V
    assert max(f.max_alt_rel_m or 0 for f in report.flights) > 5
    estimator = [f for f in report.findings if f.code.startswith("estimator.")]
    assert estimator  # the shaking copter's EKF struggled too
    assert all(f.evidence["source"].startswith("EKF_STATUS_REPORT.") for f in estimator)
    assert all("Mission Planner" in f.threshold for f in estimator)


def test_the_small_ulog_carries_its_lifetime_flight_time() -> None:
    data = read_log(shared_file("data/logs/sample_log_small.ulg"))
    assert data.parameters["LND_FLIGHT_T_HI"] == 5
    expected = ((5 << 32) | int(data.parameters["LND_FLIGHT_T_LO"])) / 1e6
    report = analyse(data)
    assert report.lifetime_flight_s == pytest.approx(expected)
    assert report.lifetime_flight_s == pytest.approx(22035.37, abs=0.01)  # 6.1 h
    assert report.vehicle["ver_hw"] == "CUBEPILOT_CUBEORANGE"
    assert report.firmware.startswith("v1.11.2")
    assert report.cycles == 1
    assert data.signals["ekf_vel"].source == "estimator_status.vel_test_ratio"
    assert lifetime_flight_s({}) is None


def test_dataflash_logs_name_their_firmware_and_board() -> None:
    report = analyse(read_log(shared_file("data/logs/pilot_0004.BIN")))
    assert report.format is LogFormat.DATAFLASH
    assert report.firmware == "ArduPlane V4.2.3 (55685c43)"
    assert report.vehicle == {"board": "omnibusf4pro", "uid": "0034005A4E4E500520363553"}
    truncated = read_log(shared_file("data/logs/test.BIN"))  # 1.1 s, cut off
    assert truncated.firmware.startswith("ArduPlane V3.8.2")
    # "PX4: 0384802e NuttX: 1bcae90b" is not the board line; "PX4v4 00360029 ..." is.
    assert truncated.vehicle == {"board": "PX4v4", "uid": "003600293036510331323731"}


def test_the_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    assert detect_format(shared_file("data/logs/vtol.tlog").read_bytes()[:64]) is LogFormat.TLOG
    renamed = tmp_path / "really_a_ulog.tlog"
    renamed.write_bytes(shared_file("data/logs/sample.ulg").read_bytes())
    assert read_log(renamed).format is LogFormat.ULOG
    garbage = tmp_path / "x.bin"
    garbage.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(LogFormatError, match="not a PX4 ULog, ArduPilot DataFlash or MAVLink"):
        read_log(garbage)
    empty = tmp_path / "empty.ulg"
    empty.write_bytes(b"")
    with pytest.raises(LogFormatError, match="empty"):
        read_log(empty)


@pytest.mark.parametrize("name", ["sample_log_small.ulg", "pilot_0004.BIN", "vtol.tlog"])
def test_mutated_real_logs_give_a_report_or_a_clear_error(name: str, tmp_path: Path) -> None:
    """Truncated, bit-flipped and spliced copies: never an unexpected exception."""
    original = shared_file(f"data/logs/{name}").read_bytes()
    rng = random.Random(f"{name}-fuzz")
    problems: list[tuple[str, str]] = []
    for case in range(12):
        data = bytearray(original)
        if case % 3 == 0:
            data = data[: rng.randrange(16, len(data))]  # truncated
        elif case % 3 == 1:
            for _ in range(rng.randrange(1, 200)):  # bytes flipped
                i = rng.randrange(0, len(data))
                data[i] = rng.randrange(256)
        else:
            a = rng.randrange(0, len(data))
            data = data[:a] + bytes(rng.randrange(256) for _ in range(64)) + data[a:]  # spliced
        path = tmp_path / f"{case}-{name}"
        path.write_bytes(bytes(data))
        try:
            report = analyse(read_log(path))
        except LogFormatError as exc:
            problems.append((path.name, str(exc)))
            continue
        assert report.duration_s >= 0
    for file_name, message in problems:  # a clear error names the file and says why
        assert message.startswith(f"{file_name}: "), message


def test_the_cli_reads_a_directory_and_reports_each_file(tmp_path: Path) -> None:
    import orjson
    from typer.testing import CliRunner

    from dronecoop.cli import app

    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.ulg").write_bytes(shared_file("data/logs/sample_log_small.ulg").read_bytes())
    (folder / "junk.tlog").write_bytes(b"not a log at all, sorry")
    (folder / "notes.txt").write_text("ignored: not a log suffix", encoding="utf-8")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["logs", "analyse", str(folder), "--json", str(out)])
    assert result.exit_code == 0, result.output  # one bad file does not sink the batch
    assert "lifetime flight time 6.12 h" in result.output
    assert "not read" in result.output
    assert "junk.tlog: not a PX4 ULog" in result.output
    document = orjson.loads(out.read_bytes())
    [report] = document["reports"].values()
    assert report["cycles"] == 1
    assert len(report["sha256"]) == 64
    assert list(document["errors"]) == [str(folder / "junk.tlog")]
