"""Two partners plan flights on one node: deconflicted against each other, refused with
reasons a planner can act on, re-planned, flown, ended; details released as configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.trust.roles import Role, role_scope
from tests.conftest import shared_file
from tests.helpers import SC, partner_auth, volume4d, write_partners_file

ROK, US = "rok-army", "us-army"
START = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
# Around Camp Humphreys: a route north-east, and one crossing it.
ROK_ROUTE = [[36.9628, 127.0311, 60.0], [36.9700, 127.0400, 80.0], [36.9760, 127.0450, 80.0]]
US_CROSSING = [[36.9750, 127.0300, 70.0], [36.9640, 127.0470, 70.0]]


@pytest.fixture
def node(keys: dict[str, RSAPrivateKey], tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(
        db_url=db_url,
        partners_file=write_partners_file(tmp_path, keys),
        auth_audiences=["localhost"],
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def who(
    keys: dict[str, RSAPrivateKey], partner: str, role: Role, sub: str = "kim"
) -> dict[str, str]:
    return partner_auth(keys[partner], partner, sub, role_scope(role))


def plan_body(
    route: list[list[float]], start: datetime = START, **extra: object
) -> dict[str, object]:
    return {
        "waypoints": route,
        "home": [route[0][0], route[0][1], 16.0],
        "start": start.isoformat(),
        "ground_speed_mps": 12.0,
        **extra,
    }


def test_a_conflicting_flight_is_refused_with_whose_where_and_when_then_replanned(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    rok = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, details={"mission": "recce", "notes": "fuel"}),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert rok.status_code == 201, rok.text
    rok_flight = rok.json()
    assert rok_flight["state"] == "Accepted"
    assert len(rok_flight["volumes"]) >= 1
    refused = node.post(
        "/api/v1/flights", json=plan_body(US_CROSSING), headers=who(keys, US, Role.PLANNER)
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    (conflict,) = set(refused.json()["conflicts"])
    assert f"rok-army's flight {rok_flight['id']} (priority 0)" in conflict
    assert "UTC" in conflict
    assert "m (WGS-84)" in conflict
    # Re-planned after the other flight (and its time margin): accepted.
    later = START + timedelta(minutes=30)
    replanned = node.post(
        "/api/v1/flights", json=plan_body(US_CROSSING, later), headers=who(keys, US, Role.PLANNER)
    )
    assert replanned.status_code == 201, replanned.text
    # A higher priority may plan over it.
    urgent = node.post(
        "/api/v1/flights",
        json=plan_body(US_CROSSING, priority=5),
        headers=who(keys, US, Role.PLANNER),
    )
    assert urgent.status_code == 201, urgent.text


def test_every_partner_sees_the_volumes_but_details_only_as_released(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    details = {"mission": "recce", "aircraft": "KUS-FT", "notes": "fuel"}
    private = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, details=details),
        headers=who(keys, ROK, Role.PLANNER),
    ).json()
    shared = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, START + timedelta(hours=2), details=details, released_to=[US]),
        headers=who(keys, ROK, Role.PLANNER),
    ).json()
    observer = who(keys, US, Role.OBSERVER)
    seen = node.get(f"/api/v1/flights/{private['id']}", headers=observer).json()
    assert seen["volumes"] == private["volumes"]
    assert seen["details"] == {}
    assert "released_to" not in seen
    named = node.get(f"/api/v1/flights/{shared['id']}", headers=observer).json()
    assert named["details"] == {"mission": "recce", "aircraft": "KUS-FT"}  # notes: owner only
    own = node.get(f"/api/v1/flights/{shared['id']}", headers=who(keys, ROK, Role.OBSERVER)).json()
    assert own["details"] == details
    listed = node.get("/api/v1/flights", headers=observer).json()["flights"]
    assert {f["id"] for f in listed} == {private["id"], shared["id"]}


def test_a_flight_is_activated_and_ended_by_its_own_partner_only(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    flight = node.post(
        "/api/v1/flights", json=plan_body(ROK_ROUTE), headers=who(keys, ROK, Role.PLANNER)
    ).json()
    assert (
        node.post(
            f"/api/v1/flights/{flight['id']}/activate", headers=who(keys, US, Role.OPERATOR)
        ).status_code
        == 403
    )
    active = node.post(
        f"/api/v1/flights/{flight['id']}/activate", headers=who(keys, ROK, Role.OPERATOR, "lee")
    )
    assert active.status_code == 200, active.text
    assert active.json()["state"] == "Activated"
    ended = node.post(f"/api/v1/flights/{flight['id']}/end", headers=who(keys, ROK, Role.OPERATOR))
    assert ended.json()["state"] == "Ended"
    # Gone from the DSS: the airspace is free again.
    uss = partner_auth(keys[US], US, "us-uss", SC)
    query = node.post(
        "/dss/v1/operational_intent_references/query",
        json={
            "area_of_interest": volume4d(36.97, 127.04, start=START, duration=timedelta(minutes=20))
        },
        headers=uss,
    )
    assert flight["id"] not in {r["id"] for r in query.json()["operational_intent_references"]}
    admin = partner_auth(keys[ROK], ROK, "park", role_scope(Role.PARTNER_ADMIN))
    actions = [
        orjson.loads(line)["action"]
        for line in node.get("/api/v1/audit/entries", headers=admin).text.splitlines()
    ]
    assert actions.count("flights.plan") == 1
    assert "flights.activate" in actions
    assert "flights.end" in actions
    assert "dss.operational_intent.create" in actions


def test_a_real_qgroundcontrol_plan_is_planned(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    document = orjson.loads(shared_file("data/plans/px4_waypoints_photo_zurich.plan").read_bytes())
    r = node.post(
        "/api/v1/flights",
        json={"plan": document, "start": START.isoformat()},
        headers=who(keys, US, Role.PLANNER),
    )
    assert r.status_code == 201, r.text
    lat = r.json()["volumes"][0]["outline"]["polygon"][0][0]
    assert 47.3 < lat < 47.5  # Zurich: latitude first in the plan, read as such


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start": START.isoformat()}, 'exactly one of "plan"'),
        (plan_body(ROK_ROUTE) | {"start": "tomorrow"}, "RFC 3339"),
        (plan_body(ROK_ROUTE) | {"start": "2030-01-01T09:00:00"}, "time zone"),
        (plan_body([[127.03, 36.96, 60.0]]), "waypoint 0"),
        ({"plan": {"fileType": "KML"}, "start": START.isoformat()}, "fileType"),
        (plan_body(ROK_ROUTE) | {"ground_speed_mps": 0}, "ground speed"),
    ],
)
def test_a_bad_plan_request_is_refused_with_the_reason(
    node: TestClient, keys: dict[str, RSAPrivateKey], body: dict[str, object], message: str
) -> None:
    r = node.post("/api/v1/flights", json=body, headers=who(keys, ROK, Role.PLANNER))
    assert r.status_code == 400, r.text
    assert message in r.json()["detail"]


def test_a_peer_gets_a_flights_details_over_the_f3548_uss_api(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    import yaml

    from tests.e2e.test_dss_openapi_conformance import Conformance

    spec = yaml.safe_load(shared_file("specs/astm-f3548-21-utm.yaml").read_text(encoding="utf-8"))
    flight = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, priority=3),
        headers=who(keys, ROK, Role.PLANNER),
    ).json()
    peer = partner_auth(keys[US], US, "us-uss", SC)
    r = node.get(f"/uss/v1/operational_intents/{flight['id']}", headers=peer)
    body = Conformance(spec).check(r, "/uss/v1/operational_intents/{entityid}", 200)
    intent = body["operational_intent"]
    assert intent["reference"]["id"] == flight["id"]
    assert intent["reference"]["manager"] == "rok-army-uss"
    assert len(intent["reference"]["ovn"]) >= 16  # the real OVN: how a peer learns it
    assert intent["details"]["priority"] == 3
    assert len(intent["details"]["volumes"]) == len(flight["volumes"])
    missing = node.get(f"/uss/v1/operational_intents/{uuid4()}", headers=peer)
    assert missing.status_code == 404
    assert "message" in missing.json()  # the standard's error shape
    no_scope = node.get(
        f"/uss/v1/operational_intents/{flight['id']}", headers=who(keys, US, Role.OBSERVER)
    )
    assert no_scope.status_code == 403


def test_no_priority_outside_the_levels_and_no_overriding_unknown_intents(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    huge = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, priority=10**9),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert huge.status_code == 400
    assert "priority must be between" in huge.json()["detail"]
    # An intent another USS put in the DSS (no details on this node) blocks any priority.
    from tests.helpers import oir_body
    from tests.helpers import volume4d as v4d

    other = partner_auth(keys[US], US, "us-other-uss", SC)
    r = node.put(
        f"/dss/v1/operational_intent_references/{uuid4()}",
        json=oir_body(
            [v4d(36.97, 127.04, start=START - timedelta(minutes=5), duration=timedelta(hours=1))]
        ),
        headers=other,
    )
    assert r.status_code == 201, r.text
    top = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, priority=100),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert top.status_code == 409
    assert "no details: this node has no credentials" in top.json()["conflicts"][0]


def test_ending_a_flight_whose_intent_is_already_gone_still_ends_it(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    from dronecoop.airspace.dss import Caller
    from dronecoop.airspace.model import ManagerID

    flight = node.post(
        "/api/v1/flights", json=plan_body(ROK_ROUTE), headers=who(keys, ROK, Role.PLANNER)
    ).json()
    dss = node.app.state.dss  # type: ignore[attr-defined]
    uss = Caller(ManagerID("rok-army-uss"), frozenset(), ROK)
    ref, _ = dss.get_operational_intent(uss, flight["id"])
    dss.delete_operational_intent(uss, flight["id"], ref.ovn)
    ended = node.post(f"/api/v1/flights/{flight['id']}/end", headers=who(keys, ROK, Role.OPERATOR))
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "Ended"
    again = node.post(f"/api/v1/flights/{flight['id']}/end", headers=who(keys, ROK, Role.OPERATOR))
    assert again.status_code == 409


def test_a_flight_released_to_its_owner_only_is_not_found_by_others(
    keys: dict[str, RSAPrivateKey], tmp_path: Path
) -> None:
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'n.sqlite3'}",
        partners_file=write_partners_file(
            tmp_path, keys, rel='[releasability]\nflight = "owner_only"'
        ),
        auth_audiences=["localhost"],
    )
    with TestClient(create_app(settings), base_url="http://localhost") as node:
        flight = node.post(
            "/api/v1/flights", json=plan_body(ROK_ROUTE), headers=who(keys, ROK, Role.PLANNER)
        ).json()
        for verb in ("activate", "end"):
            r = node.post(
                f"/api/v1/flights/{flight['id']}/{verb}", headers=who(keys, US, Role.OPERATOR)
            )
            assert r.status_code == 404, r.text
        assert (
            node.get(
                f"/api/v1/flights/{flight['id']}", headers=who(keys, US, Role.OBSERVER)
            ).status_code
            == 404
        )
        assert (
            node.get("/api/v1/flights", headers=who(keys, US, Role.OBSERVER)).json()["flights"]
            == []
        )


def test_a_flight_is_modified_in_place_or_left_as_it_was(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    rok = node.post(
        "/api/v1/flights", json=plan_body(ROK_ROUTE), headers=who(keys, ROK, Role.PLANNER)
    )
    us = node.post(
        "/api/v1/flights",
        json=plan_body(US_CROSSING, START + timedelta(hours=1)),
        headers=who(keys, US, Role.PLANNER),
    )
    assert rok.status_code == us.status_code == 201, us.text
    flight = rok.json()
    # Moving it onto the US flight's time is refused; the flight stays as it was.
    clash = node.put(
        f"/api/v1/flights/{flight['id']}",
        json=plan_body(ROK_ROUTE, START + timedelta(hours=1)),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert clash.status_code == 409, clash.text
    assert us.json()["id"] in clash.json()["detail"]
    same = node.get(f"/api/v1/flights/{flight['id']}", headers=who(keys, ROK, Role.PLANNER))
    assert same.json()["volumes"] == flight["volumes"]
    # Two hours later it fits: same id and state, new volumes, new priority.
    moved = node.put(
        f"/api/v1/flights/{flight['id']}",
        json=plan_body(ROK_ROUTE, START + timedelta(hours=2), priority=5),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == flight["id"]
    assert moved.json()["state"] == "Accepted"
    assert moved.json()["priority"] == 5
    assert moved.json()["volumes"] != flight["volumes"]
    # Another partner cannot modify it.
    theirs = node.put(
        f"/api/v1/flights/{flight['id']}",
        json=plan_body(ROK_ROUTE, START + timedelta(hours=3)),
        headers=who(keys, US, Role.PLANNER),
    )
    assert theirs.status_code == 403


def test_a_peer_reports_a_problem_to_this_uss(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    import yaml

    from tests.e2e.test_dss_openapi_conformance import Conformance
    from tests.helpers import error_report_body

    spec = yaml.safe_load(shared_file("specs/astm-f3548-21-utm.yaml").read_text(encoding="utf-8"))
    peer = partner_auth(keys[US], US, "us-uss", SC)
    r = node.post("/uss/v1/reports", json=error_report_body(), headers=peer)
    body = Conformance(spec).check(r, "/uss/v1/reports", 201)
    assert body["report_id"]
    bad = node.post("/uss/v1/reports", json={"exchange": 5}, headers=peer)
    assert bad.status_code == 400
    assert "message" in bad.json()


def test_an_activated_flight_may_be_modified_within_a_conflict_it_already_had(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    """F3548 SCD0030: a higher-priority flight was planned over ours while we fly; moving
    ours a little stays allowed, while a new conflict would not be."""
    ours = node.post(
        "/api/v1/flights", json=plan_body(ROK_ROUTE), headers=who(keys, ROK, Role.PLANNER)
    ).json()
    flying = node.post(
        f"/api/v1/flights/{ours['id']}/activate", headers=who(keys, ROK, Role.OPERATOR)
    )
    assert flying.status_code == 200, flying.text
    urgent = node.post(
        "/api/v1/flights",
        json=plan_body(US_CROSSING, priority=50),
        headers=who(keys, US, Role.PLANNER),
    )
    assert urgent.status_code == 201, urgent.text  # higher priority: our flight is tolerated
    nudged = [[lat + 0.0002, lng, alt] for lat, lng, alt in ROK_ROUTE]
    moved = node.put(
        f"/api/v1/flights/{ours['id']}",
        json=plan_body(nudged),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "Activated"
    # The same nudge for a flight that is only Accepted is a new conflict: refused.
    accepted = node.post(
        "/api/v1/flights",
        json=plan_body(ROK_ROUTE, START + timedelta(hours=2)),
        headers=who(keys, ROK, Role.PLANNER),
    ).json()
    node.post(
        "/api/v1/flights",
        json=plan_body(US_CROSSING, START + timedelta(hours=2), priority=50),
        headers=who(keys, US, Role.PLANNER),
    )
    refused = node.put(
        f"/api/v1/flights/{accepted['id']}",
        json=plan_body(nudged, START + timedelta(hours=2)),
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert refused.status_code == 409, refused.text


def test_a_mission_type_carries_its_agreed_priority(
    keys: dict[str, RSAPrivateKey], tmp_path: Path, db_url: str
) -> None:
    priorities = "[priorities]\nmission_types = { medevac = 70 }\npartner_max = { us-army = 60 }"
    settings = Settings(
        db_url=db_url, partners_file=write_partners_file(tmp_path, keys, priorities=priorities)
    )
    with TestClient(create_app(settings), base_url="http://localhost") as node:
        medevac = node.post(
            "/api/v1/flights",
            json=plan_body(ROK_ROUTE, details={"mission": "Medevac"}),
            headers=who(keys, ROK, Role.PLANNER),
        )
        assert medevac.status_code == 201, medevac.text
        assert medevac.json()["priority"] == 70
        capped = node.post(
            "/api/v1/flights",
            json=plan_body(US_CROSSING, START + timedelta(hours=3), details={"mission": "medevac"}),
            headers=who(keys, US, Role.PLANNER),
        )
        assert capped.status_code == 400
        assert "above us-army's agreed maximum of 60" in capped.json()["detail"]


def test_only_an_intents_manager_may_notify_for_it(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    from tests.helpers import volume4d as v4d

    intent_id = str(uuid4())
    reference = {
        "id": intent_id,
        "manager": "us-uss",
        "uss_availability": "Unknown",
        "version": 1,
        "state": "Accepted",
        "ovn": "o" * 44,
        "time_start": {"value": START.isoformat().replace("+00:00", "Z"), "format": "RFC3339"},
        "time_end": {
            "value": (START + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "format": "RFC3339",
        },
        "uss_base_url": "https://us.example",
        "subscription_id": str(uuid4()),
    }
    body = {
        "operational_intent_id": intent_id,
        "operational_intent": {
            "reference": reference,
            "details": {"volumes": [v4d(start=START)], "priority": 0},
        },
        "subscriptions": [],
    }
    us = partner_auth(keys[US], US, "us-uss", SC)
    rok = partner_auth(keys[ROK], ROK, "rok-uss", SC)
    assert node.post("/uss/v1/operational_intents", json=body, headers=us).status_code == 204
    forged = node.post("/uss/v1/operational_intents", json=body, headers=rok)
    assert forged.status_code == 403  # rok-uss does not manage it
    delete = {"operational_intent_id": intent_id, "subscriptions": []}
    assert node.post("/uss/v1/operational_intents", json=delete, headers=rok).status_code == 403
    kept = node.get("/api/v1/peer_intents", headers=who(keys, ROK, Role.PLANNER)).json()
    assert [p["manager"] for p in kept["peer_intents"]] == ["us-uss"]
    assert node.post("/uss/v1/operational_intents", json=delete, headers=us).status_code == 204
