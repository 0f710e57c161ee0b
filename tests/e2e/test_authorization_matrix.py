"""The authorization matrix, generated from the app's own route table.

Every route x every role (and a plain F3548 USS token, and a token with no permission) x
the caller's own partner or the other one, against records the first partner owns:
allowed, 403, or 404 where the record is not releasable to the caller. A route without
a declared policy fails here (and the app refuses to start with one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import DEFAULT_POLICY, RecordKind, RecordMeta
from dronecoop.trust.roles import Role, permissions_of, role_scope
from dronecoop.web.guard import route_keys
from tests.conftest import shared_file
from tests.helpers import (
    ALL_SCOPES,
    constraint_body,
    error_report_body,
    oir_body,
    partner_auth,
    subscription_body,
    volume4d,
    write_partners_file,
)

OWNER, OTHER = "rok-army", "us-army"
SUBJECTS = {OWNER: "rok-uss", OTHER: "us-uss"}
# Who calls: each role, a plain InterUSS USS (the standard's scopes), and nobody at all.
CALLERS: dict[str, tuple[str, ...]] = {
    **{role.value: (role_scope(role),) for role in Role},
    "f3548-uss": ALL_SCOPES,
    "interuss-test-driver": (
        "interuss.flight_planning.plan",
        "interuss.flight_planning.direct_automated_test",
    ),
    "no-permission": ("dronecoop.nothing",),
}
# F3548: a subscription is read and changed by its manager alone (403 for others).
MANAGER_ONLY_READS = {RecordKind.SUBSCRIPTION}


@pytest.fixture(scope="module")
def keys() -> dict[str, RSAPrivateKey]:
    return {p: rsa.generate_private_key(public_exponent=65537, key_size=2048) for p in SUBJECTS}


@pytest.fixture(scope="module")
def node(
    keys: dict[str, RSAPrivateKey], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("matrix")
    settings = Settings(
        db_url=f"sqlite:///{folder / 'node.sqlite3'}",
        partners_file=write_partners_file(folder, keys),
        auth_audiences=["localhost"],
        rate_limit_per_s=0,
        data_dir=folder / "data",
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def headers(
    keys: dict[str, RSAPrivateKey], partner: str, scopes: tuple[str, ...]
) -> dict[str, str]:
    return partner_auth(keys[partner], partner, SUBJECTS[partner], *scopes)


@pytest.fixture(scope="module")
def records(node: TestClient, keys: dict[str, RSAPrivateKey]) -> dict[str, str]:
    """Records the OWNER partner's USS creates (and one audit entry of the OTHER's)."""
    uss = headers(keys, OWNER, ALL_SCOPES)
    oir_id, cr_id, sub_id = (str(uuid.uuid4()) for _ in range(3))
    oir = node.put(f"/dss/v1/operational_intent_references/{oir_id}", json=oir_body(), headers=uss)
    assert oir.status_code == 201, oir.text
    r = node.put(f"/dss/v1/constraint_references/{cr_id}", json=constraint_body(), headers=uss)
    assert r.status_code == 201, r.text
    r_sub = node.put(f"/dss/v1/subscriptions/{sub_id}", json=subscription_body(), headers=uss)
    assert r_sub.status_code == 200, r_sub.text
    other = headers(keys, OTHER, ALL_SCOPES)
    r = node.post("/dss/v1/reports", json=error_report_body(), headers=other)
    assert r.status_code == 201, r.text
    admin = headers(keys, OWNER, (role_scope(Role.PARTNER_ADMIN),))
    pem = (
        keys[OWNER]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    r = node.post(
        f"/api/v1/partners/{OWNER}/keys",
        json={"kid": "matrix-key", "public_key_pem": pem.decode()},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    planner = headers(keys, OWNER, (role_scope(Role.PLANNER),))
    flight = node.post(
        "/api/v1/flights",
        json={
            "waypoints": [[37.20, 127.00, 60.0], [37.21, 127.01, 80.0]],
            "home": [37.20, 127.00, 20.0],
            "start": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
            "details": {"mission": "matrix"},
        },
        headers=planner,
    )
    assert flight.status_code == 201, flight.text
    kept = node.post(  # read over /uss/v1 after the matrix has ended the first one
        "/api/v1/flights",
        json={
            "waypoints": [[37.30, 127.00, 60.0], [37.31, 127.01, 80.0]],
            "home": [37.30, 127.00, 20.0],
            "start": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
        },
        headers=planner,
    )
    assert kept.status_code == 201, kept.text
    zone = node.post(
        "/api/v1/zones",
        json={
            "geojson": {
                "type": "Polygon",
                "coordinates": [[[127.5, 37.5], [127.51, 37.5], [127.51, 37.51], [127.5, 37.51]]],
            }
        },
        headers=planner,
    )
    assert zone.status_code == 201, zone.text
    zone_kept = node.post(  # read over /uss/v1 after the matrix has withdrawn the first one
        "/api/v1/zones",
        json={
            "geojson": {
                "type": "Polygon",
                "coordinates": [[[127.6, 37.5], [127.61, 37.5], [127.61, 37.51], [127.6, 37.51]]],
            }
        },
        headers=planner,
    )
    assert zone_kept.status_code == 201, zone_kept.text
    maintainer = headers(keys, OWNER, (role_scope(Role.MAINTAINER),))
    aircraft = node.post(
        "/api/v1/aircraft", json={"model": "Matrix quad", "serial": "M-1"}, headers=maintainer
    )
    assert aircraft.status_code == 201, aircraft.text
    log = node.post(
        "/api/v1/logs",
        content=shared_file("data/logs/test.BIN").read_bytes(),
        params={"aircraft": aircraft.json()["id"]},
        headers=maintainer,
    )
    assert log.status_code == 201, log.text
    order = node.post(
        "/api/v1/workorders",
        json={"aircraft_id": aircraft.json()["id"], "cards": [{"title": "matrix check"}]},
        headers=maintainer,
    )
    assert order.status_code == 201, order.text
    component = node.post(
        "/api/v1/components", json={"part_number": "P-1", "serial": "S-1"}, headers=maintainer
    )
    assert component.status_code == 201, component.text
    return {
        "component_id": component.json()["id"],
        "order_id": order.json()["id"],
        "aircraft_id": aircraft.json()["id"],
        "log_sha256": log.json()["sha256"],
        "zone_id": zone.json()["published"][0]["id"],
        "zone_kept": zone_kept.json()["published"][0]["id"],
        "flight_kept": kept.json()["id"],
        "flight_id": flight.json()["id"],
        "entityid_oir": oir_id,
        "entityid_cr": cr_id,
        "subscriptionid": sub_id,
        "seq": "1",
        "oir_ovn": oir.json()["operational_intent_reference"]["ovn"],
        "sub_version": r_sub.json()["subscription"]["version"],
    }


def fill(path: str, records: dict[str, str]) -> str:
    entity = "entityid_cr" if "/constraint_references/" in path else "entityid_oir"
    values = {
        "entityid": records[
            "zone_kept"
            if path.startswith("/uss/v1/constraints/")
            else "flight_kept"
            if path.startswith("/uss/")
            else entity
        ],
        "subscriptionid": records["subscriptionid"],
        "ovn": "stale-ovn-" + "0" * 30,
        "version": "stale-version",
        "uss_id": SUBJECTS[OWNER],
        "seq": records["seq"],
        "partner": OWNER,
        "kid": "matrix-key",
        "kind": "operational_intent_reference",
        "record_id": records["entityid_oir"],
        "flight_id": records["flight_id"],
        "flight_plan_id": records["flight_id"],
        "zone_id": records["zone_id"],
        "aircraft_id": records["aircraft_id"],
        "sha256": records["log_sha256"],
        "defect_id": "00000000-0000-4000-8000-000000000000",
        "order_id": records["order_id"],
        "index": "0",
        "component_id": records["component_id"],
    }
    return path.format(**values)


def body_for(method: str, path: str) -> dict[str, Any] | None:
    if method == "POST" and path.endswith("/query"):
        return {"area_of_interest": volume4d()}
    if method != "PUT" and path != "/dss/v1/reports":
        return None
    if "/operational_intent_references/" in path:
        return oir_body()
    if "/constraint_references/" in path:
        return constraint_body()
    if "/subscriptions/" in path:
        return subscription_body()
    if "/uss_availability/" in path:
        return {"old_version": "", "availability": "Normal"}
    return error_report_body()


QUERY = {
    "/api/v1/partners/visibility": {"kind": "flight", "owner": OWNER},
    "/api/v1/audit/feed": {"limit": 1, "idle_timeout_s": 0.2},  # a live feed: end it
    "/flight_planning/v1/user_notifications": {"after": "2026-01-01T00:00:00Z"},
}


def targets_record(path: str) -> bool:
    names = (
        "entityid",
        "subscriptionid",
        "seq",
        "partner",
        "flight_id",
        "flight_plan_id",
        "zone_id",
        "aircraft_id",
        "sha256",
        "order_id",
    )
    return any(f"{{{p}}}" in path for p in names)


REFUSED = "refused"  # 403, or the standard's earlier 400/409 (stale OVN, missing version)


def expected(policy: RoutePolicy, path: str, caller: str, partner: str) -> str:
    if not permissions_of(CALLERS[caller]).intersection(policy.any_of):
        return "403"
    if policy.record_kind is None or not targets_record(path) or partner == OWNER:
        return "allow"
    meta = RecordMeta(kind=policy.record_kind, owner=OWNER)  # type: ignore[arg-type]
    if not DEFAULT_POLICY.visible(partner, meta):  # type: ignore[arg-type]
        return "404"
    if policy.writes or policy.record_kind in MANAGER_ONLY_READS:
        return REFUSED  # F3548: only an entity's manager reads a subscription or changes it
    return "allow"


def outcome(status: int, want: str) -> str:
    if want == REFUSED and status in (400, 403, 409):
        return REFUSED
    return str(status) if status in (401, 403, 404) else "allow"


def test_every_route_has_a_policy(node: TestClient) -> None:
    guard = node.app.state.guard  # type: ignore[attr-defined]
    routes = list(route_keys(node.app.routes))  # type: ignore[attr-defined]
    assert len(routes) > 30
    assert guard.policies.missing(routes) == []


def test_public_routes_need_no_token(node: TestClient) -> None:
    guard = node.app.state.guard  # type: ignore[attr-defined]
    for method, path in route_keys(node.app.routes):  # type: ignore[attr-defined]
        if guard.policies.get(method, path).public and method == "GET" and "{" not in path:
            assert node.get(path).status_code == 200, path


def test_the_authorization_matrix(
    node: TestClient, keys: dict[str, RSAPrivateKey], records: dict[str, str]
) -> None:
    guard = node.app.state.guard  # type: ignore[attr-defined]
    mismatches, cases = [], 0
    for method, path in route_keys(node.app.routes):  # type: ignore[attr-defined]
        policy = guard.policies.get(method, path)
        if policy.public:
            continue
        for caller, scopes in CALLERS.items():
            for partner in (OWNER, OTHER):
                cases += 1
                r = node.request(
                    method,
                    fill(path, records),
                    json=body_for(method, path),
                    params=QUERY.get(path),
                    headers=headers(keys, partner, scopes),
                )
                want = expected(policy, path, caller, partner)
                got = outcome(r.status_code, want)
                if want != got:
                    mismatches.append(
                        f"{method} {path} as {caller}@{partner}: want {want}, "
                        f"got {r.status_code} {r.text[:120]}"
                    )
                if got == "allow":
                    assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text}"
    print(f"authorization matrix: {cases} cases")
    assert not mismatches, "\n".join(mismatches)
    # Nothing the other partner sent changed the owner's records.
    owner = headers(keys, OWNER, ALL_SCOPES)
    oir = node.get(
        f"/dss/v1/operational_intent_references/{records['entityid_oir']}", headers=owner
    )
    sub = node.get(f"/dss/v1/subscriptions/{records['subscriptionid']}", headers=owner)
    assert oir.json()["operational_intent_reference"]["ovn"] == records["oir_ovn"]
    assert sub.json()["subscription"]["version"] == records["sub_version"]


def test_a_request_without_a_token_is_refused_on_every_guarded_route(node: TestClient) -> None:
    guard = node.app.state.guard  # type: ignore[attr-defined]
    for method, path in route_keys(node.app.routes):  # type: ignore[attr-defined]
        if not guard.policies.get(method, path).public:
            r = node.request(method, path.replace("{", "").replace("}", ""))
            assert r.status_code == 401, f"{method} {path}: {r.status_code}"


def test_an_app_with_an_unguarded_route_refuses_to_start(tmp_path: Path) -> None:
    from fastapi import APIRouter

    import dronecoop.app as app_module

    original = app_module.build_trust_router

    def with_extra_route(*args: Any, **kwargs: Any) -> APIRouter:
        router = original(*args, **kwargs)
        router.add_api_route("/forgotten", lambda: {"secret": 1}, methods=["GET"])
        return router

    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", dev_signing_key_file=tmp_path / "k.pem"
    )
    app_module.build_trust_router = with_extra_route  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError, match="without an access policy"):
            create_app(settings)
    finally:
        app_module.build_trust_router = original
