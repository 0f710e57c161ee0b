"""The fleet registry over HTTP: aircraft with opening balances, real logs uploaded,
matched, kept once, counted into hours and cycles, seen only by whom they are released to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.trust.roles import Role, role_scope
from tests.conftest import shared_file
from tests.helpers import partner_auth, write_partners_file

ROK, US = "rok-army", "us-army"


@pytest.fixture
def node(keys: dict[str, RSAPrivateKey], tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(
        db_url=db_url,
        partners_file=write_partners_file(tmp_path, keys),
        data_dir=tmp_path / "data",
        max_log_bytes=8_000_000,
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def who(keys: dict[str, RSAPrivateKey], partner: str, *roles: Role) -> dict[str, str]:
    return partner_auth(keys[partner], partner, "lee", *(role_scope(r) for r in roles))


def upload(node: TestClient, headers: dict[str, str], name: str, **params: str) -> object:
    data = shared_file(f"data/logs/{name}").read_bytes()
    return node.post(
        "/api/v1/logs",
        content=data,
        params={"filename": name, **params},
        headers=headers | {"Content-Type": "application/octet-stream"},
    )


def test_a_real_log_counts_into_the_aircrafts_hours_and_cycles_once(
    node: TestClient, keys: dict[str, RSAPrivateKey], tmp_path: Path
) -> None:
    maintainer = who(keys, ROK, Role.MAINTAINER)
    r = node.post(
        "/api/v1/aircraft",
        json={
            "model": "Iris quad",
            "serial": "ROK-Q-0001",
            "home_depot": "Pyeongtaek",
            "opening_hours": 1234.0,
            "opening_cycles": 500,
            "opening_as_of": "2026-10-01",
        },
        headers=maintainer,
    )
    assert r.status_code == 201, r.text
    aircraft = r.json()
    assert (aircraft["hours"], aircraft["cycles"]) == (1234.0, 500)
    duplicate = node.post(
        "/api/v1/aircraft", json={"model": "Iris", "serial": "ROK-Q-0001"}, headers=maintainer
    )
    assert duplicate.status_code == 409
    first = upload(node, maintainer, "flight.tlog", aircraft=aircraft["id"])
    assert first.status_code == 201, first.text  # type: ignore[attr-defined]
    log = first.json()  # type: ignore[attr-defined]
    assert log["flights"] == 11
    assert log["matched_by"] == "named"
    assert any(f["code"] == "vibration.z" for f in log["findings"])
    assert (tmp_path / "data" / "logs" / log["sha256"][:2] / log["sha256"]).stat().st_size == (
        shared_file("data/logs/flight.tlog").stat().st_size
    )  # the bytes kept, by content address
    again = upload(node, maintainer, "flight.tlog", aircraft=aircraft["id"])
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert again.json()["new"] is False  # type: ignore[attr-defined]
    now = node.get(f"/api/v1/aircraft/{aircraft['id']}", headers=maintainer).json()
    assert now["logs"] == 1
    assert now["firmware"].startswith("APM:Copter V3.4-dev")  # as its latest log says
    assert now["hours"] == pytest.approx(1234.0 + log["airborne_s"] / 3600, abs=0.001)
    assert now["cycles"] == 500 + log["cycles"]
    assert [x["sha256"] for x in now["flight_logs"]] == [log["sha256"]]
    full = node.get(f"/api/v1/logs/{log['sha256']}", headers=maintainer).json()
    assert len(full["report"]["flights"]) == 11


def test_a_log_finds_its_aircraft_by_the_flight_controllers_id(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    maintainer = who(keys, US, Role.MAINTAINER)
    r = node.post(
        "/api/v1/aircraft",
        json={
            "model": "VTOL",
            "serial": "US-V-7",
            "autopilot_uid": "000600000000383638393239510d0035002d",  # sample_log_small.ulg
        },
        headers=maintainer,
    )
    assert r.status_code == 201, r.text
    done = upload(node, maintainer, "sample_log_small.ulg")
    assert done.status_code == 201, done.text  # type: ignore[attr-defined]
    assert done.json()["aircraft_id"] == r.json()["id"]  # type: ignore[attr-defined]
    assert done.json()["matched_by"] == "autopilot id"  # type: ignore[attr-defined]


def test_not_a_log_too_big_or_not_yours(node: TestClient, keys: dict[str, RSAPrivateKey]) -> None:
    rok = who(keys, ROK, Role.MAINTAINER)
    junk = node.post(
        "/api/v1/logs", content=b"GIF89a" + bytes(64), params={"filename": "x.bin"}, headers=rok
    )
    assert junk.status_code == 400
    assert junk.headers["content-type"] == "application/problem+json"
    assert "not a PX4 ULog, ArduPilot DataFlash or MAVLink tlog" in junk.json()["detail"]
    big = node.post("/api/v1/logs", content=bytes(9_000_000), headers=rok)
    assert big.status_code == 413
    aircraft = node.post(
        "/api/v1/aircraft", json={"model": "Q", "serial": "ROK-2"}, headers=rok
    ).json()
    us = who(keys, US, Role.MAINTAINER)
    assert node.get(f"/api/v1/aircraft/{aircraft['id']}", headers=us).status_code == 404
    theirs = upload(node, us, "test.BIN", aircraft=aircraft["id"])
    assert theirs.status_code == 404  # type: ignore[attr-defined]  # not theirs: as if absent
    assert "belongs to" not in theirs.text  # type: ignore[attr-defined]  # nor whose it is
    mine = upload(node, rok, "test.BIN", aircraft=aircraft["id"]).json()  # type: ignore[attr-defined]
    assert node.get(f"/api/v1/logs/{mine['sha256']}", headers=us).status_code == 404
    assert node.get("/api/v1/logs", headers=us).json()["logs"] == []
    released = node.post(
        "/api/v1/aircraft",
        json={"model": "Q", "serial": "ROK-3", "released_to": [US]},
        headers=rok,
    ).json()
    seen = [a["id"] for a in node.get("/api/v1/aircraft", headers=us).json()["aircraft"]]
    assert seen == [released["id"]]
    assert (
        node.post(
            "/api/v1/aircraft",
            json={"model": "Q", "serial": "X"},
            headers=who(keys, ROK, Role.OBSERVER),
        ).status_code
        == 403
    )
