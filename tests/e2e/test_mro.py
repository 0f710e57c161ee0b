"""Maintenance over HTTP: a program, a real log that uses up hours and cycles, the due-list
turning amber and red, a defect from a log finding grounding the aircraft, and sign-off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.trust.roles import Role, role_scope
from tests.helpers import partner_auth, upload_log, write_partners_file

ROK, US = "rok-army", "us-army"


@pytest.fixture
def node(keys: dict[str, RSAPrivateKey], tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(
        db_url=db_url,
        partners_file=write_partners_file(tmp_path, keys),
        data_dir=tmp_path / "data",
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def who(keys: dict[str, RSAPrivateKey], partner: str, *roles: Role) -> dict[str, str]:
    return partner_auth(keys[partner], partner, "park", *(role_scope(r) for r in roles))


def test_a_program_a_log_a_defect_and_airworthiness(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    crew = who(keys, ROK, Role.MAINTAINER)
    aircraft = node.post(
        "/api/v1/aircraft",
        json={"model": "Iris quad", "serial": "Q-1", "opening_hours": 9.9, "opening_cycles": 40},
        headers=crew,
    ).json()
    for task in (
        {"model": "Iris quad", "code": "MOTOR-10H", "title": "motor inspection", "hours": 10},
        {"model": "Iris quad", "code": "FRAME-60C", "title": "frame check", "cycles": 60},
        {"model": "Iris quad", "code": "ANNUAL", "title": "annual", "days": 365},
    ):  # fmt: skip
        r = node.post("/api/v1/mro/tasks", json=task, headers=crew)
        assert r.status_code == 201, r.text
    assert node.post("/api/v1/mro/tasks", json=task, headers=crew).status_code == 409

    def due() -> dict[str, object]:
        [mine] = node.get("/api/v1/mro/due", headers=crew).json()["aircraft"]
        return mine

    before = due()
    status = {i["code"]: i["status"] for i in before["items"]}  # type: ignore[attr-defined]
    assert status == {"MOTOR-10H": "amber", "FRAME-60C": "green", "ANNUAL": "green"}
    assert before["airworthy"] is True
    # A real log (flight.tlog: ~9 min airborne, 15 take-offs) uses up the motor interval.
    log = upload_log(node, crew, aircraft["id"], "flight.tlog")
    after = due()
    status = {i["code"]: i["status"] for i in after["items"]}  # type: ignore[attr-defined]
    assert status["MOTOR-10H"] == "red"  # 9.9 h + 0.15 h is past 10 h (no tolerance)
    assert status["FRAME-60C"] == "amber"  # 40 + 15 cycles: within 10 % of 60
    assert after["airworthy"] is False
    assert any("MOTOR-10H" in r for r in after["reasons"])  # type: ignore[attr-defined]
    # Sign-off: done now, the motor task is green again.
    done = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/maintenance",
        json={"task_code": "MOTOR-10H"},
        headers=crew,
    )
    assert done.status_code == 201, done.text
    signed = {i["code"]: i["status"] for i in due()["items"]}  # type: ignore[attr-defined]
    assert signed["MOTOR-10H"] == "green"
    # The log's Z vibration finding raises a critical defect: grounded until it is closed.
    finding = next(f for f in log["findings"] if f["code"] == "vibration.z")
    defect = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/defects",
        json={"title": finding["summary"], "critical": True, "source": f"log {log['sha256']}"},
        headers=crew,
    ).json()
    grounded = due()
    assert grounded["airworthy"] is False
    assert any("open critical defect" in r for r in grounded["reasons"])  # type: ignore[attr-defined]
    closed = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/defects/{defect['id']}/close", headers=crew
    )
    assert closed.status_code == 200
    # Another partner neither sees the aircraft's due-list nor writes its records.
    other = who(keys, US, Role.MAINTAINER)
    assert node.get("/api/v1/mro/due", headers=other).json()["aircraft"] == []
    theirs = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/maintenance",
        json={"task_code": "MOTOR-10H"},
        headers=other,
    )
    assert theirs.status_code == 404  # not released to them: as if it did not exist


def test_a_life_limited_part_counts_its_own_hours_across_aircraft(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    crew = who(keys, ROK, Role.MAINTAINER)
    first, second = (
        node.post(
            "/api/v1/aircraft", json={"model": "Iris quad", "serial": serial}, headers=crew
        ).json()
        for serial in ("Q-A", "Q-B")
    )
    part = node.post(
        "/api/v1/components",
        json={"part_number": "ESC-40A", "serial": "E1", "description": "motor controller",
              "life_hours": 10.0, "tsn_hours": 9.9},
        headers=crew,
    ).json()  # fmt: skip
    fit = f"/api/v1/aircraft/{first['id']}/components/{part['id']}/install"
    assert node.post(fit, json={"position": "arm 1"}, headers=crew).status_code == 201
    again = node.post(f"/api/v1/aircraft/{second['id']}/components/{part['id']}/install",
                      json={"position": "arm 1"}, headers=crew)  # fmt: skip
    assert again.status_code == 409  # fitted elsewhere: remove it first
    log = upload_log(node, crew, first["id"], "flight.tlog")
    config = node.get(f"/api/v1/aircraft/{first['id']}/configuration", headers=crew).json()
    [fitted] = config["components"]
    assert fitted["tsn_hours"] == pytest.approx(9.9 + log["airborne_s"] / 3600, abs=1e-3)
    assert fitted["life_hours_left"] < 0
    [due] = [a for a in node.get("/api/v1/mro/due", headers=crew).json()["aircraft"]
             if a["aircraft_id"] == first["id"]]  # fmt: skip
    assert due["airworthy"] is False
    assert any(r.startswith("LLP ESC-40A s/n E1") for r in due["reasons"])
    # Moved to the other aircraft, it keeps its time since new.
    removed = node.post(f"/api/v1/aircraft/{first['id']}/components/{part['id']}/remove",
                        headers=crew)  # fmt: skip
    assert removed.status_code == 200
    moved = node.post(f"/api/v1/aircraft/{second['id']}/components/{part['id']}/install",
                      json={"position": "arm 2"}, headers=crew)  # fmt: skip
    assert moved.status_code == 201
    [there] = node.get(f"/api/v1/aircraft/{second['id']}/configuration", headers=crew).json()[
        "components"
    ]
    assert there["tsn_hours"] == pytest.approx(fitted["tsn_hours"], abs=1e-3)
    assert (
        node.get(f"/api/v1/aircraft/{first['id']}/configuration", headers=crew).json()["components"]
        == []
    )


def test_a_deferred_defect_flies_until_its_limit_and_parameters_against_a_baseline(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    crew = who(keys, ROK, Role.MAINTAINER)
    aircraft = node.post(
        "/api/v1/aircraft", json={"model": "Copter", "serial": "C-1"}, headers=crew
    ).json()
    defect = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/defects",
        json={"title": "landing light inoperative", "critical": True},
        headers=crew,
    ).json()

    def verdict() -> dict[str, object]:
        [mine] = [a for a in node.get("/api/v1/mro/due", headers=crew).json()["aircraft"]
                  if a["aircraft_id"] == aircraft["id"]]  # fmt: skip
        return mine

    assert verdict()["airworthy"] is False
    defer = f"/api/v1/aircraft/{aircraft['id']}/defects/{defect['id']}/defer"
    assert node.post(defer, json={"until": "2099-01-01"}, headers=crew).status_code == 400
    ok = node.post(defer, json={"until": "2099-01-01", "reason": "MEL 33-40-01"}, headers=crew)
    assert ok.status_code == 200, ok.text
    assert verdict()["airworthy"] is True  # deferred, within its limit
    expired = node.post(defer, json={"until": "2020-01-01", "reason": "MEL 33-40-01"}, headers=crew)
    assert expired.status_code == 200
    now = verdict()
    assert now["airworthy"] is False
    assert any("deferral has run out" in r for r in now["reasons"])  # type: ignore[attr-defined]
    # Parameter baseline from a log, then the same log checks clean; a changed one does not.
    log = upload_log(node, crew, aircraft["id"], "flight.tlog")
    made = node.post(
        "/api/v1/baselines",
        json={"model": "Copter", "name": "default", "from_log": log["sha256"]},
        headers=crew,
    )
    assert made.status_code == 201, made.text
    assert made.json()["parameters"] > 400
    check = node.get(f"/api/v1/aircraft/{aircraft['id']}/baseline_check", headers=crew).json()
    assert check["clean"] is True
    report = node.get(f"/api/v1/logs/{log['sha256']}", headers=crew).json()["report"]
    name, value = sorted(report["parameters"].items())[0]
    assert node.post(
        "/api/v1/baselines",
        json={"model": "Copter", "name": "default",
              "parameters": {name: value + 1, "NOT_A_PARAM": 1}},
        headers=crew,
    ).status_code == 201  # fmt: skip
    check = node.get(f"/api/v1/aircraft/{aircraft['id']}/baseline_check", headers=crew).json()
    assert check["clean"] is False
    assert check["changed"] == [{"name": name, "baseline": value + 1, "log": value}]
    assert check["missing"] == ["NOT_A_PARAM"]


def test_a_partner_an_aircraft_is_released_to_sees_it_but_not_its_maintenance(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    crew = who(keys, ROK, Role.MAINTAINER)
    ally = who(keys, US, Role.MAINTAINER, Role.OBSERVER)
    aircraft = node.post(
        "/api/v1/aircraft",
        json={"model": "Copter", "serial": "C-9", "released_to": [US]},
        headers=crew,
    ).json()
    upload_log(node, crew, aircraft["id"], "test.BIN")
    defect = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/defects",
        json={"title": "CONFIDENTIAL: arm 3 cracked", "critical": True},
        headers=crew,
    ).json()
    seen = node.get(f"/api/v1/aircraft/{aircraft['id']}", headers=ally)
    assert seen.status_code == 200  # the aircraft is released to them ...
    assert seen.json()["firmware"] == ""  # ... its logs are not
    assert node.get("/api/v1/mro/due", headers=ally).json()["aircraft"] == []
    assert "CONFIDENTIAL" not in node.get("/api/v1/mro/due.csv", headers=ally).text
    for path in ("configuration", "baseline_check"):
        assert (
            node.get(f"/api/v1/aircraft/{aircraft['id']}/{path}", headers=ally).status_code == 404
        )
    # A defect is closed only through its own aircraft's path.
    other = node.post(
        "/api/v1/aircraft", json={"model": "Copter", "serial": "C-10"}, headers=crew
    ).json()
    wrong = node.post(f"/api/v1/aircraft/{other['id']}/defects/{defect['id']}/close", headers=crew)
    assert wrong.status_code == 400
    right = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/defects/{defect['id']}/close", headers=crew
    )
    assert right.status_code == 200


def test_a_battery_counts_its_cycles_and_its_health_from_the_logs_flown_with_it(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    crew = who(keys, ROK, Role.MAINTAINER)
    aircraft = node.post(
        "/api/v1/aircraft", json={"model": "Iris quad", "serial": "Q-B1"}, headers=crew
    ).json()
    pack = node.post(
        "/api/v1/components",
        json={"part_number": "LIPO-3S-5000", "serial": "B-0042", "kind": "battery",
              "description": "3S 5000 mAh pack", "life_cycles": 300},
        headers=crew,
    ).json()  # fmt: skip
    fit = f"/api/v1/aircraft/{aircraft['id']}/components/{pack['id']}/install"
    assert node.post(fit, json={"position": "battery bay"}, headers=crew).status_code == 201
    log = upload_log(node, crew, aircraft["id"], "flight.tlog")
    [battery] = node.get(f"/api/v1/aircraft/{aircraft['id']}/configuration", headers=crew).json()[
        "components"
    ]
    assert battery["kind"] == "battery"
    assert battery["tsn_cycles"] == log["cycles"]
    assert battery["life_cycles_left"] == 300 - log["cycles"]
    health = battery["health"]
    [reading] = health["readings"]
    assert reading["log"] == log["sha256"]
    assert 40 < reading["pack_mohm"] < 80  # the pack's sag under load in flight.tlog
    assert health["state_of_health_pct"] == 100.0  # its first reading is its baseline
    assert "twice" in health["method"]
    # The battery's own program: a capacity check every 10 of *its* cycles.
    task = {"model": "LIPO-3S-5000", "code": "CAP-10C", "title": "capacity check", "cycles": 10}
    assert node.post("/api/v1/mro/tasks", json=task, headers=crew).status_code == 201

    def item() -> tuple[dict[str, object], bool]:
        [mine] = [a for a in node.get("/api/v1/mro/due", headers=crew).json()["aircraft"]
                  if a["aircraft_id"] == aircraft["id"]]  # fmt: skip
        [found] = [i for i in mine["items"] if i["code"] == "CAP-10C LIPO-3S-5000 s/n B-0042"]
        return found, mine["airworthy"]

    overdue, airworthy = item()
    assert overdue["status"] == "red"  # 15 cycles flown with it, never checked
    assert overdue["remaining_cycles"] == 10 - log["cycles"]
    assert airworthy is False
    assert overdue["task_code"] == "CAP-10C"  # what to record it done with, on which part
    assert overdue["component_id"] == pack["id"]
    record = f"/api/v1/aircraft/{aircraft['id']}/maintenance"
    wrong = node.post(record, json={"task_code": "CAP-10C", "component_id": "nope"}, headers=crew)
    assert wrong.status_code == 400
    done = node.post(
        record,
        json={"task_code": overdue["task_code"], "component_id": overdue["component_id"]},
        headers=crew,
    )
    assert done.status_code == 201, done.text
    assert done.json()["cycles"] == log["cycles"]  # the battery's counters, recorded
    checked, airworthy = item()
    assert checked["status"] == "green"
    assert checked["remaining_cycles"] == 10
    assert airworthy is True
