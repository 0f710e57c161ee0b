"""A flight log's plots, as PX4 Flight Review draws them, with the field's lines drawn in
(matplotlib, rendered to PNG on the server: no plotting library in the browser)."""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no global state, safe on worker threads

from dronecoop.logs import analysis as rules
from dronecoop.logs import model as m
from dronecoop.logs.model import Finding, LogData


def plot_png(data: LogData, findings: list[Finding]) -> bytes:
    """Altitude, speed, battery voltage and current, vibration, GPS and motor outputs over
    the log, each with the field's lines, findings shaded where they hold."""
    fig = Figure(figsize=(10, 16))
    axes = fig.subplots(6, 1, sharex=True)
    altitude, speed, battery, vibration, gps, outputs = axes
    _series(altitude, data, m.ALT_REL, "altitude above home (m)")
    if m.ALT_REL not in data.signals:
        _series(altitude, data, m.ALT_AMSL, "altitude AMSL (m)")
    _series(speed, data, m.SPEED, "ground speed (m/s)")
    _series(battery, data, m.VOLTAGE, "battery (V)")
    cells = rules.battery_cells(data)
    if cells is not None:
        _line(battery, rules.CELL_BROWNOUT_V * cells, f"{rules.CELL_BROWNOUT_V} V/cell x {cells}")
    current = data.signals.get(m.CURRENT)
    if current is not None and len(current.t):
        amps = battery.twinx()
        amps.plot(current.t, current.v, linewidth=0.6, color="tab:purple", label=m.CURRENT)
        amps.set_ylabel("current (A)")
        amps.legend(loc="upper left", fontsize=8)
    if any(name in data.signals for name in m.VIBE):
        for name in m.VIBE:
            _series(vibration, data, name, "vibration (m/s²)")
        _line(vibration, rules.VIBE_WARN, "ArduPilot 30 m/s²")
        _line(vibration, rules.VIBE_CRIT, "ArduPilot 60 m/s²")
    else:
        _series(vibration, data, m.PX4_VIBE, "accel vibration metric (m/s²)")
        _line(vibration, rules.PX4_VIBE_WARN, "PX4 orange 4.905")
        _line(vibration, rules.PX4_VIBE_CRIT, "PX4 red 9.81")
    _series(gps, data, m.SATS, "GPS satellites / HDOP")
    _series(gps, data, m.HDOP, "GPS satellites / HDOP")
    _line(gps, rules.SATS_MIN, "6 satellites")
    found = rules.motors(data)
    if found is not None:
        for number, signal in zip(found.numbers, found.signals, strict=True):
            outputs.plot(signal.t, signal.v, linewidth=0.6, label=f"motor {number}")
        outputs.set_ylabel("motor command (0-1)")
        outputs.set_ylim(-0.05, 1.1)
        _line(outputs, rules.MOTOR_HIGH, "90 %: thrust-loss check")
        _line(outputs, rules.MOTOR_SATURATED, "95 %: saturated")
    else:  # no lift motors known: the raw outputs (a plane's throttle and surfaces)
        for channel in range(1, m.MAX_OUTPUTS + 1):
            _series(outputs, data, m.output(channel), "outputs (µs)")
    outputs.set_xlabel("time since the log started (s)")
    for finding in findings:
        if finding.severity.value == "info":
            continue  # a reading (the pack's resistance), not a problem to shade
        target = {
            "vibration": vibration,
            "battery": battery,
            "gps": gps,
            "motors": outputs,
        }.get(finding.code.split(".")[0], altitude)
        colour = "red" if finding.severity.value == "critical" else "orange"
        target.axvspan(finding.start_s, finding.end_s, color=colour, alpha=0.12)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=72)
    return out.getvalue()


def _series(ax: Axes, data: LogData, name: str, label: str) -> None:
    signal = data.signals.get(name)
    if signal is None or not len(signal.t):
        return
    ax.plot(signal.t, signal.v, linewidth=0.8, label=name)
    ax.set_ylabel(label)


def _line(ax: Axes, value: float, label: str) -> None:
    ax.axhline(value, color="red", linestyle="--", linewidth=0.8, label=label)
