"""The README's main command: its story runs end to end over three real nodes."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from dronecoop.demo import run_demo
from tests.conftest import shared_file


def test_the_demo_refuses_the_crossing_then_accepts_it_later(tmp_path: Path) -> None:
    out = io.StringIO()
    outcome = run_demo(
        tmp_path,
        base_port=0,
        keep_running=False,
        console=Console(file=out, width=200),
        logs_dir=shared_file("data/logs/flight.tlog").parent,
    )
    text = out.getvalue()
    refused = outcome["refused"]
    assert refused["status"] == 409
    [conflict] = refused["conflicts"]
    assert "rok-uss's flight" in conflict
    assert "(priority 20)" in conflict
    assert outcome["accepted"]["rok"]
    assert len(outcome["accepted"]["us"]) == 4
    assert "refused" in text
    assert "moves it to" in text
    [by_zone] = outcome["refused_by_zone"]["conflicts"]
    assert "(PROHIBITED: Ammunition supply point)" in by_zone  # named by ROK's USS
    assert "notified by rok-uss" in text  # the US USS learnt of the ROK recce
    assert "notified by us-uss" in text
    assert (tmp_path / "tokens.env").stat().st_mode & 0o777 == 0o600
    assert "fleet registered on its USS" in text
    assert outcome["maintenance"]["flights"] == 11  # the US depot's log, analysed
    assert "hours 225.0 -> 225.1" in text
    due = outcome["maintenance"]["due"]  # the quad's program, its battery, a defect raised
    assert {i["code"] for i in due["items"]} >= {"MOTOR-10H", "FRAME-120C", "ANNUAL"}
    assert any(i["code"].startswith("LLP X2D-BATT-3S") for i in due["items"])
    assert any(i["code"] == "BATT-CAP-50C X2D-BATT-3S s/n B-0412" for i in due["items"])
    assert due["airworthy"] is False
    assert "GROUNDED: open critical defect" in text
    for name in ("dss", "rok", "us"):
        assert (tmp_path / f"{name}.sqlite3").exists()  # each node its own store


def test_the_cli_acts_as_a_partner_of_the_running_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dronecoop import flights_cli
    from dronecoop.cli import app

    stop = threading.Event()
    out = io.StringIO()
    runner = threading.Thread(
        target=run_demo,
        args=(tmp_path,),
        kwargs={"base_port": 0, "stop": stop, "console": Console(file=out, width=200)},
    )
    runner.start()
    try:
        nodes = tmp_path / "nodes.json"
        deadline = time.monotonic() + 60
        while "nodes running" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert nodes.exists(), out.getvalue()
        monkeypatch.setattr(flights_cli, "DEMO_NODES", nodes)
        route = tmp_path / "route.geojson"
        route.write_text(
            '{"type": "LineString", "coordinates": [[127.10, 36.99], [127.11, 37.00]]}',
            encoding="utf-8",
        )
        start = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cli = CliRunner()
        planned = cli.invoke(
            app,
            [
                "flights",
                "plan",
                str(route),
                "--start",
                start,
                "--home-altitude",
                "20",
                "--partner",
                "us",
            ],
        )
        assert planned.exit_code == 0, planned.output
        assert "accepted" in planned.output
        listed = cli.invoke(app, ["flights", "list", "--partner", "us"])
        assert listed.exit_code == 0, listed.output
        flight_id = planned.output.split("flight ")[1].split(" ")[0]
        assert flight_id[:8] in listed.output  # the table may wrap the rest
        added = cli.invoke(
            app,
            ["fleet", "add", "--model", "Iris", "--serial", "ROK-CLI-1", "--partner", "rok",
             "--opening-hours", "10", "--opening-cycles", "3"],
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        aircraft_id = added.output.strip().rsplit(" ", 1)[-1]
        junk = tmp_path / "junk.tlog"
        junk.write_bytes(b"garbage, not a log")
        ingested = cli.invoke(
            app,
            ["logs", "ingest", str(shared_file("data/logs/test.BIN")), str(junk),
             "--aircraft", aircraft_id, "--partner", "rok"],
        )  # fmt: skip
        assert ingested.exit_code == 0, ingested.output  # one bad file does not sink the rest
        assert "kept" in ingested.output
        assert "refused" in ingested.output
        fleet = cli.invoke(app, ["fleet", "list", "--partner", "rok"])
        assert "ROK-CLI-1" in fleet.output
        due = cli.invoke(app, ["mro", "due", "--partner", "rok"])
        assert due.exit_code == 0, due.output
        assert "ROK-CLI-1" in due.output
        assert "airworthy" in due.output
        opened = cli.invoke(
            app,
            ["mro", "workorder", "open", "--aircraft", aircraft_id, "--card", "inspect props",
             "--depot", "us", "--partner", "rok"],
        )  # fmt: skip
        assert opened.exit_code == 0, opened.output
        order_id = opened.output.split("work order ")[1].split(" ")[0]
        # The record stays on ROK's node (ROK owns it); the US depot works on it there, with
        # its own partner's token, which ROK's node trusts.
        import orjson

        from dronecoop.auth.devkeys import load_private_key, mint_token

        demo = orjson.loads(nodes.read_bytes())
        us = demo["partners"]["us"]
        kim = mint_token(
            load_private_key(Path(us["key_file"])), sub="kim@us",
            scopes=["dronecoop.role.depot_technician"], audience="localhost",
            issuer=us["issuer"],
        )  # fmt: skip
        at_rok = ["--url", demo["partners"]["rok"]["url"], "--token", kim]
        listed = cli.invoke(app, ["mro", "workorder", "list", *at_rok])
        assert order_id[:8] in listed.output  # the US depot sees the ROK order while open
        signed = cli.invoke(app, ["mro", "workorder", "sign", order_id, "0", *at_rok])
        assert signed.exit_code == 0, signed.output
        done = cli.invoke(app, ["mro", "workorder", "complete", order_id, *at_rok])
        assert done.exit_code == 0, done.output
        assert "completed" in done.output
    finally:
        stop.set()
        runner.join(30)
