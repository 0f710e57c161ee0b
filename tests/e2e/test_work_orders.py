"""A ROK aircraft maintained at the US depot: the work order gives the depot exactly that
aircraft's maintenance data while it is open, and nothing after; critical cards need a
second inspector; parts come out of the depot's own inventory."""

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
        partners_file=write_partners_file(tmp_path, keys, depots=(US,)),
        data_dir=tmp_path / "data",
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def who(keys: dict[str, RSAPrivateKey], partner: str, sub: str, role: Role) -> dict[str, str]:
    return partner_auth(keys[partner], partner, sub, role_scope(role))


def test_a_rok_aircraft_at_the_us_depot(node: TestClient, keys: dict[str, RSAPrivateKey]) -> None:
    rok = who(keys, ROK, "rok-maint", Role.MAINTAINER)
    kim = who(keys, US, "kim", Role.DEPOT_TECHNICIAN)
    lee = who(keys, US, "lee", Role.DEPOT_TECHNICIAN)
    aircraft = node.post(
        "/api/v1/aircraft", json={"model": "Iris quad", "serial": "ROK-9"}, headers=rok
    ).json()
    task = {"model": "Iris quad", "code": "ROTOR-100", "title": "rotor head", "hours": 100,
            "critical": True}  # fmt: skip
    assert node.post("/api/v1/mro/tasks", json=task, headers=rok).status_code == 201
    log = upload_log(node, rok, aircraft["id"], "test.BIN")
    defect = node.post(
        f"/api/v1/aircraft/{aircraft['id']}/defects",
        json={"title": "motor 3 bearing noise", "critical": True},
        headers=rok,
    ).json()
    assert node.get(f"/api/v1/aircraft/{aircraft['id']}", headers=kim).status_code == 404
    # Only a partner that runs a depot may be assigned.
    nope = node.post(
        "/api/v1/workorders",
        json={"aircraft_id": aircraft["id"], "depot": "nobody", "cards": [{"title": "x"}]},
        headers=rok,
    )
    assert nope.status_code == 400
    order = node.post(
        "/api/v1/workorders",
        json={
            "aircraft_id": aircraft["id"],
            "depot": US,
            "cards": [
                {"task_code": "ROTOR-100"},
                {"defect_id": defect["id"]},
                {"title": "check wiring loom"},
            ],
        },
        headers=rok,
    )
    assert order.status_code == 201, order.text
    wo = order.json()
    # While assigned, the US depot sees that aircraft, its logs and its due-list.
    assert node.get(f"/api/v1/aircraft/{aircraft['id']}", headers=kim).status_code == 200
    assert node.get(f"/api/v1/logs/{log['sha256']}", headers=kim).status_code == 200
    due = node.get("/api/v1/mro/due", headers=kim).json()["aircraft"]
    assert [a["aircraft_id"] for a in due] == [aircraft["id"]]
    assert not due[0]["airworthy"]  # the open critical defect grounds it
    # Signatures: a critical card needs someone else to inspect it.
    base = f"/api/v1/workorders/{wo['id']}/cards"
    assert node.post(f"{base}/0/sign", headers=kim).status_code == 200
    same = node.post(f"{base}/0/inspect", headers=kim)
    assert same.status_code == 409
    assert "someone else than kim" in same.json()["detail"]
    assert node.post(f"{base}/0/inspect", headers=lee).status_code == 200
    early = node.post(f"/api/v1/workorders/{wo['id']}/complete", headers=kim)
    assert early.status_code == 409  # cards 1 and 2 not signed off
    for index in (1, 2):
        assert node.post(f"{base}/{index}/sign", headers=kim).status_code == 200
    assert node.post(f"{base}/1/inspect", headers=lee).status_code == 200
    # Parts come from the US depot's own stock, never more than it holds.
    stocked = node.post(
        "/api/v1/inventory",
        json={"part_number": "MT2212-920KV", "description": "motor", "quantity": 2},
        headers=lee,
    )
    assert stocked.json()["quantity"] == 2
    parts = f"/api/v1/workorders/{wo['id']}/parts"
    too_many = node.post(parts, json={"part_number": "MT2212-920KV", "quantity": 3}, headers=kim)
    assert too_many.status_code == 409
    drawn = node.post(parts, json={"part_number": "MT2212-920KV", "quantity": 1}, headers=kim)
    assert drawn.status_code == 200, drawn.text
    inventory = node.get("/api/v1/inventory", headers=kim).json()["parts"]
    assert inventory == [{"part_number": "MT2212-920KV", "description": "motor", "quantity": 1}]
    assert node.post(parts, json={"part_number": "MT2212-920KV"}, headers=rok).status_code == 409
    # A completion writes the owner's records with it, all or nothing: one failing midway
    # (after the task is recorded, closing the defect) leaves the order open and no record.
    store = node.app.state.mro.store  # type: ignore[attr-defined]
    real_close = store.close_defect

    def close_then_fail(*args: object, **kwargs: object) -> bool:
        real_close(*args, **kwargs)
        raise RuntimeError("the database went away")

    store.close_defect = close_then_fail
    with pytest.raises(RuntimeError, match="went away"):
        node.post(f"/api/v1/workorders/{wo['id']}/complete", headers=kim)
    store.close_defect = real_close
    assert node.get(f"/api/v1/workorders/{wo['id']}", headers=kim).json()["status"] == "open"
    [still] = node.get("/api/v1/mro/due", headers=rok).json()["aircraft"]
    assert still["items"][0]["last_done"] is None
    assert [d["id"] for d in still["open_defects"]] == [defect["id"]]
    done = node.post(f"/api/v1/workorders/{wo['id']}/complete", headers=kim)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    # The owner's records: task done, defect closed, airworthy again.
    [mine] = node.get("/api/v1/mro/due", headers=rok).json()["aircraft"]
    assert mine["airworthy"] is True
    assert mine["open_defects"] == []
    assert mine["items"][0]["last_done"] is not None
    # And the depot sees nothing of it any more.
    assert node.get(f"/api/v1/aircraft/{aircraft['id']}", headers=kim).status_code == 404
    assert node.get(f"/api/v1/logs/{log['sha256']}", headers=kim).status_code == 404
    assert node.get(f"/api/v1/workorders/{wo['id']}", headers=kim).status_code == 404
    assert node.get("/api/v1/mro/due", headers=kim).json()["aircraft"] == []
    assert node.get(f"/api/v1/workorders/{wo['id']}", headers=rok).json()["depot"] == US


def test_a_depot_sees_a_batterys_health_only_from_logs_it_may_see(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    rok = who(keys, ROK, "rok-maint", Role.MAINTAINER)
    kim = who(keys, US, "kim", Role.DEPOT_TECHNICIAN)
    sent, kept = (
        node.post("/api/v1/aircraft", json={"model": "Iris quad", "serial": s}, headers=rok).json()
        for s in ("ROK-SENT", "ROK-KEPT")
    )
    pack = node.post(
        "/api/v1/components",
        json={"part_number": "LIPO-3S", "serial": "B-7", "kind": "battery"},
        headers=rok,
    ).json()
    on = "/api/v1/aircraft/{}/components/" + pack["id"] + "/{}"
    assert node.post(on.format(kept["id"], "install"), json={}, headers=rok).status_code == 201
    upload_log(node, rok, kept["id"])  # flown on the aircraft that stays home
    assert node.post(on.format(kept["id"], "remove"), headers=rok).status_code == 200
    assert node.post(on.format(sent["id"], "install"), json={}, headers=rok).status_code == 201
    order = node.post(
        "/api/v1/workorders",
        json={"aircraft_id": sent["id"], "depot": US, "cards": [{"title": "pack check"}]},
        headers=rok,
    )
    assert order.status_code == 201, order.text
    config = f"/api/v1/aircraft/{sent['id']}/configuration"
    [owner_view] = node.get(config, headers=rok).json()["components"]
    assert len(owner_view["health"]["readings"]) == 1  # the owner sees its other aircraft's log
    [depot_view] = node.get(config, headers=kim).json()["components"]
    assert depot_view["health"]["readings"] == []  # the depot does not
    assert depot_view["health"]["state_of_health_pct"] is None
