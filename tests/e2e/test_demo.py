"""The README's main command: its story runs end to end over three real nodes."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from dronecoop.demo import run_demo


def test_the_demo_refuses_the_crossing_then_accepts_it_later(tmp_path: Path) -> None:
    out = io.StringIO()
    outcome = run_demo(
        tmp_path, base_port=0, keep_running=False, console=Console(file=out, width=200)
    )
    text = out.getvalue()
    refused = outcome["refused"]
    assert refused["status"] == 409
    [conflict] = refused["conflicts"]
    assert "rok-uss's flight" in conflict
    assert "(priority 20)" in conflict
    assert outcome["accepted"]["rok"]
    assert len(outcome["accepted"]["us"]) == 3
    assert "refused" in text
    assert "moves it to" in text
    assert "notified by rok-uss" in text  # the US USS learnt of the ROK recce
    assert "notified by us-uss" in text
    assert (tmp_path / "tokens.env").stat().st_mode & 0o777 == 0o600
    for name in ("dss", "rok", "us"):
        assert (tmp_path / f"{name}.sqlite3").exists()  # each node its own store
