"""``dronecoop flights`` against a real node over HTTP, as a planner would use it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from typer.testing import CliRunner

from dronecoop.auth.devkeys import mint_token
from dronecoop.cli import app
from tests.integration.test_concurrency import server_url  # noqa: F401 - a fixture

START = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat()


def route(tmp_path: Path, name: str, coordinates: list[list[float]]) -> Path:
    path = tmp_path / f"{name}.geojson"
    path.write_bytes(orjson.dumps({"type": "LineString", "coordinates": coordinates}))
    return path


def test_plan_a_conflict_refused_list_activate_and_end(
    server_url: str,  # noqa: F811 - the fixture
    signing_key: RSAPrivateKey,
    tmp_path: Path,
) -> None:
    def token(role: str) -> str:
        return mint_token(
            signing_key, sub=f"{role}-1", scopes=[f"dronecoop.role.{role}"], audience="localhost"
        )

    runner = CliRunner()
    common = ["--url", server_url, "--start", START, "--home-altitude", "16"]
    first = route(tmp_path, "east", [[127.0311, 36.9628], [127.0450, 36.9760]])
    ok = runner.invoke(
        app,
        ["flights", "plan", str(first), *common, "--token", token("planner"), "--mission", "recce"],
    )
    assert ok.exit_code == 0, ok.output
    assert "accepted: flight" in ok.output
    flight_id = re.search(r"flight ([0-9a-f-]{36})", ok.output).group(1)  # type: ignore[union-attr]
    crossing = route(tmp_path, "cross", [[127.0300, 36.9750], [127.0470, 36.9640]])
    refused = runner.invoke(
        app, ["flights", "plan", str(crossing), *common, "--token", token("planner")]
    )
    assert refused.exit_code == 1
    assert "refused" in refused.output
    assert f"local's flight {flight_id}" in refused.output
    listed = runner.invoke(
        app, ["flights", "list", "--url", server_url, "--token", token("observer")]
    )
    assert flight_id[:8] in listed.output
    assert "recce" in listed.output
    active = runner.invoke(
        app, ["flights", "activate", flight_id, "--url", server_url, "--token", token("operator")]
    )
    assert "Activated" in active.output, active.output
    ended = runner.invoke(
        app, ["flights", "end", flight_id, "--url", server_url, "--token", token("operator")]
    )
    assert "Ended" in ended.output, ended.output
    denied = runner.invoke(
        app, ["flights", "plan", str(first), *common, "--token", token("observer")]
    )
    assert denied.exit_code == 1
    assert "403" in denied.output


def test_convert_exports_a_real_plan_as_geojson_and_back(tmp_path: Path) -> None:
    import orjson
    from typer.testing import CliRunner

    from dronecoop.cli import app
    from dronecoop.planning.qgc import read_plan
    from tests.conftest import shared_file

    plan = shared_file("data/plans/px4_rally_points_zurich.plan")
    geojson = tmp_path / "mission.geojson"
    runner = CliRunner()
    result = runner.invoke(
        app, ["flights", "convert", str(plan), "--to", "geojson", "--out", str(geojson)]
    )
    assert result.exit_code == 0, result.output
    feature = orjson.loads(geojson.read_bytes())
    original = read_plan(plan.read_bytes())
    coordinates = feature["geometry"]["coordinates"]
    assert coordinates[0][:2] == [original.positions[0].lng_deg, original.positions[0].lat_deg]
    assert len(feature["properties"]["rally_points"]) == len(original.rally_points) > 0
    again = runner.invoke(app, ["flights", "convert", str(plan), "--to", "plan"])
    assert read_plan(again.stdout.encode()) == original  # a .plan exports as itself
    bad = runner.invoke(app, ["flights", "convert", str(geojson), "--to", "kml"])
    assert bad.exit_code != 0
