"""The InterUSS automated-testing flight_planning interface (v0.7.0) of a dronecoop USS:
requests and answers validated against the official spec files, read where they live."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from tests.conftest import shared_file
from tests.e2e.test_dss_openapi_conformance import Conformance
from tests.helpers import SC, partner_auth, volume4d, write_partners_file

ROK = "rok-army"
SPEC_DIR = "specs/interuss-automated-testing/flight_planning/v1"
BASE_URI = "http://specs.invalid/flight_planning/v1/"
PLAN = "interuss.flight_planning.plan"
DIRECT = "interuss.flight_planning.direct_automated_test"
FP = "/flight_planning/v1"
PLAN_PATH = "/flight_plans/{flight_plan_id}"
START = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    main = shared_file(f"{SPEC_DIR}/flight_planning.yaml")
    others = {
        BASE_URI + path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in main.parent.glob("*.yaml")
        if path.name != main.name
    }
    spec = yaml.safe_load(main.read_text(encoding="utf-8"))
    return Conformance(spec, BASE_URI + main.name, others)


@pytest.fixture(scope="module")
def key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def node(key: RSAPrivateKey, tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(db_url=db_url, partners_file=write_partners_file(tmp_path, {ROK: key}))
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def headers(key: RSAPrivateKey, *scopes: str) -> dict[str, str]:
    return partner_auth(key, ROK, "uss_qualifier", *scopes)


def upsert_body(
    area: list[dict[str, Any]],
    *,
    usage: str = "Planned",
    style: str = "IfAllowed",
    priority: int = 0,
    request_id: str | None = None,
) -> dict[str, Any]:
    return {
        "request_id": request_id or str(uuid4()),
        "execution_style": style,
        "flight_plan": {
            "basic_information": {"usage_state": usage, "uas_state": "Nominal", "area": area},
            "astm_f3548_21": {"priority": priority},
        },
    }


def upsert(
    node: TestClient,
    conformance: Conformance,
    key: RSAPrivateKey,
    plan_id: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    assert conformance.request_errors("PUT", PLAN_PATH, body) == []
    r = node.put(f"{FP}/flight_plans/{plan_id}", json=body, headers=headers(key, PLAN))
    return conformance.check(r, PLAN_PATH, 200)


def area(start: datetime = START, lat: float = 36.9628, **kw: Any) -> list[dict[str, Any]]:
    return [volume4d(lat, 127.0311, start=start, duration=timedelta(minutes=20), **kw)]


def test_status_says_ready(node: TestClient, conformance: Conformance, key: RSAPrivateKey) -> None:
    r = node.get(f"{FP}/status", headers=headers(key, DIRECT))
    body = conformance.check(r, "/status", 200)
    assert body["status"] == "Ready"
    assert body["api_version"] == "v0.7.0"
    assert node.get(f"{FP}/status", headers=headers(key, PLAN)).status_code == 403


def test_plan_conflict_modify_activate_close(
    node: TestClient, conformance: Conformance, key: RSAPrivateKey
) -> None:
    first = str(uuid4())
    planned = upsert(node, conformance, key, first, upsert_body(area()))
    assert (planned["planning_result"], planned["flight_plan_status"]) == ("Completed", "Planned")
    dss = node.get(
        f"/dss/v1/operational_intent_references/{first}",
        headers=partner_auth(key, ROK, "rok-army-uss", SC),
    )
    assert dss.json()["operational_intent_reference"]["state"] == "Accepted"
    ovn = dss.json()["operational_intent_reference"]["ovn"]

    second = str(uuid4())
    refused = upsert(node, conformance, key, second, upsert_body(area()))
    assert (refused["planning_result"], refused["flight_plan_status"]) == ("Rejected", "NotPlanned")
    assert first in refused["notes"]
    what_if = upsert(node, conformance, key, second, upsert_body(area(), style="Hypothetical"))
    assert what_if["planning_result"] == "Rejected"
    elsewhere = upsert_body(area(lat=37.2), style="Hypothetical")
    assert upsert(node, conformance, key, second, elsewhere)["planning_result"] == "Completed"
    assert node.get(f"/api/v1/flights/{second}", headers=headers(key, PLAN)).status_code in (
        403,
        404,
    )  # nothing was made

    later = area(START + timedelta(hours=2))
    moved = upsert(node, conformance, key, first, upsert_body(later))
    assert (moved["planning_result"], moved["flight_plan_status"]) == ("Completed", "Planned")
    dss = node.get(
        f"/dss/v1/operational_intent_references/{first}",
        headers=partner_auth(key, ROK, "rok-army-uss", SC),
    ).json()["operational_intent_reference"]
    assert dss["ovn"] != ovn
    assert dss["time_start"]["value"].startswith(
        (START + timedelta(hours=2)).strftime("%Y-%m-%dT%H")
    )
    # The time it left is free now: the second plan fits.
    fits = upsert(node, conformance, key, second, upsert_body(area()))
    assert fits["planning_result"] == "Completed"

    body = upsert_body(later, usage="InUse")
    flying = upsert(node, conformance, key, first, body)
    assert (flying["planning_result"], flying["flight_plan_status"]) == ("Completed", "OkToFly")
    assert upsert(node, conformance, key, first, body) == flying  # same request_id: same answer

    closed = node.delete(f"{FP}/flight_plans/{first}", headers=headers(key, DIRECT))
    assert conformance.check(closed, PLAN_PATH, 200)["flight_plan_status"] == "Closed"
    gone = node.get(
        f"/dss/v1/operational_intent_references/{first}",
        headers=partner_auth(key, ROK, "rok-army-uss", SC),
    )
    assert gone.status_code == 404
    assert (
        node.delete(f"{FP}/flight_plans/{uuid4()}", headers=headers(key, DIRECT)).status_code == 404
    )


def test_clear_area_ends_every_plan_in_it(
    node: TestClient, conformance: Conformance, key: RSAPrivateKey
) -> None:
    inside = [str(uuid4()), str(uuid4())]
    for i, plan_id in enumerate(inside):
        answer = upsert(
            node, conformance, key, plan_id, upsert_body(area(START + timedelta(hours=4 + i)))
        )
        assert answer["planning_result"] == "Completed"
    outside = str(uuid4())
    upsert(node, conformance, key, outside, upsert_body(area(lat=37.3)))
    request = {
        "request_id": str(uuid4()),
        "extent": volume4d(36.9628, 127.0311, start=START, duration=timedelta(hours=8)),
    }
    assert conformance.request_errors("POST", "/clear_area_requests", request) == []
    r = node.post(f"{FP}/clear_area_requests", json=request, headers=headers(key, DIRECT))
    body = conformance.check(r, "/clear_area_requests", 200)
    assert body["outcome"]["success"] is True
    assert "ended 2 flight plan" in body["outcome"]["message"]


def test_what_is_not_supported_says_so(
    node: TestClient, conformance: Conformance, key: RSAPrivateKey
) -> None:
    reality = upsert(node, conformance, key, str(uuid4()), upsert_body(area(), style="InReality"))
    assert reality["planning_result"] == "NotSupported"
    sfc = area()
    sfc[0]["volume"]["altitude_lower"]["reference"] = "SFC"
    sfc[0]["volume"]["altitude_upper"]["reference"] = "SFC"
    answer = upsert(node, conformance, key, str(uuid4()), upsert_body(sfc))
    assert answer["planning_result"] == "NotSupported"
    assert "W84" in answer["notes"]
    bad = node.put(
        f"{FP}/flight_plans/{uuid4()}",
        json={"request_id": "x", "execution_style": "Maybe", "flight_plan": {}},
        headers=headers(key, PLAN),
    )
    assert bad.status_code == 400


def test_the_validator_rejects_what_the_spec_forbids(conformance: Conformance) -> None:
    good = {"planning_result": "Completed", "flight_plan_status": "Planned"}
    assert conformance.errors("PUT", PLAN_PATH, 200, good) == []
    assert conformance.errors("PUT", PLAN_PATH, 200, {**good, "planning_result": "Done"})
    assert conformance.errors("PUT", PLAN_PATH, 200, {"planning_result": "Completed"})
    body = upsert_body(area())
    assert conformance.request_errors("PUT", PLAN_PATH, body) == []
    body["flight_plan"]["basic_information"]["area"][0]["volume"]["outline_circle"] = 5
    assert conformance.request_errors("PUT", PLAN_PATH, body)  # resolved into geotemporal.yaml


def test_a_test_director_acts_for_its_own_partner_only(
    key: RSAPrivateKey, tmp_path: Path, db_url: str, conformance: Conformance
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    partners = write_partners_file(tmp_path, {ROK: key, "us-army": other})
    settings = Settings(db_url=db_url, partners_file=partners)
    with TestClient(create_app(settings), base_url="http://localhost") as node:
        plan_id = str(uuid4())
        assert upsert(node, conformance, key, plan_id, upsert_body(area()))["planning_result"] == (
            "Completed"
        )
        us_director = partner_auth(other, "us-army", "us-director", DIRECT)
        refused = node.delete(f"{FP}/flight_plans/{plan_id}", headers=us_director)
        assert refused.status_code == 403
        cleared = node.post(
            f"{FP}/clear_area_requests",
            json={"request_id": "c1", "extent": volume4d(start=START, duration=timedelta(hours=2))},
            headers=us_director,
        )
        assert cleared.json()["outcome"]["message"] == "ended 0 flight plan(s)"
        flight = node.get(
            f"/api/v1/flights/{plan_id}", headers=headers(key, "dronecoop.role.observer")
        )
        assert flight.json()["state"] == "Accepted"


def test_plans_beyond_the_horizon_or_already_over_are_rejected_not_failed(
    node: TestClient, conformance: Conformance, key: RSAPrivateKey
) -> None:
    now = datetime.now(UTC)
    far = upsert(node, conformance, key, str(uuid4()), upsert_body(area(now + timedelta(days=32))))
    assert (far["planning_result"], far["flight_plan_status"]) == ("Rejected", "NotPlanned")
    assert "30 days" in far["notes"]
    over = area(now - timedelta(hours=1))  # 20 minutes long: ended 40 minutes ago
    ended = upsert(node, conformance, key, str(uuid4()), upsert_body(over))
    assert (ended["planning_result"], ended["flight_plan_status"]) == ("Rejected", "NotPlanned")
    assert "past" in ended["notes"]


def test_uss_qualifier_closes_a_plan_with_the_plan_scope(
    node: TestClient, conformance: Conformance, key: RSAPrivateKey
) -> None:
    plan_id = str(uuid4())
    upsert(node, conformance, key, plan_id, upsert_body(area(START + timedelta(hours=6))))
    closed = node.delete(f"{FP}/flight_plans/{plan_id}", headers=headers(key, PLAN))
    assert conformance.check(closed, PLAN_PATH, 200)["flight_plan_status"] == "Closed"
