"""Restricted areas on one node: published from GeoJSON / ED-269, planners kept out of
them with the zone named, withdrawn by their own partner only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.trust.roles import Role, role_scope
from tests.helpers import partner_auth, write_partners_file

ROK, US = "rok-army", "us-army"
START = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
ROUTE = [[36.9628, 127.0311, 60.0], [36.9700, 127.0400, 80.0]]
# A box over the middle of ROUTE ([lon, lat]).
BOX = [[127.034, 36.964], [127.038, 36.964], [127.038, 36.968], [127.034, 36.968]]


@pytest.fixture
def node(keys: dict[str, RSAPrivateKey], tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(db_url=db_url, partners_file=write_partners_file(tmp_path, keys))
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def who(keys: dict[str, RSAPrivateKey], partner: str, *roles: Role) -> dict[str, str]:
    return partner_auth(keys[partner], partner, "kim", *(role_scope(r) for r in roles))


def plan(node: TestClient, keys: dict[str, RSAPrivateKey], start: datetime = START) -> object:
    return node.post(
        "/api/v1/flights",
        json={
            "waypoints": ROUTE,
            "home": [ROUTE[0][0], ROUTE[0][1], 16.0],
            "start": start.isoformat(),
            "ground_speed_mps": 12.0,
        },
        headers=who(keys, US, Role.PLANNER),
    )


def test_a_geojson_zone_keeps_flights_out_until_withdrawn(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    published = node.post(
        "/api/v1/zones",
        json={
            "geojson": {
                "type": "Feature",
                "properties": {"name": "Ammo depot", "lower_w84_m": 0, "upper_w84_m": 500},
                "geometry": {"type": "Polygon", "coordinates": [BOX]},
            },
            "start": START.isoformat(),
            "end": (START + timedelta(hours=6)).isoformat(),
        },
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert published.status_code == 201, published.text
    [zone] = published.json()["published"]
    assert zone["partner"] == ROK
    refused = plan(node, keys)
    assert refused.status_code == 409, refused.text
    [conflict] = refused.json()["conflicts"]
    assert f"{ROK}'s constraint {zone['id']} (Ammo depot)" in conflict
    listed = node.get("/api/v1/zones", headers=who(keys, US, Role.OBSERVER)).json()["zones"]
    assert [z["id"] for z in listed] == [zone["id"]]  # every partner sees restricted areas
    theirs = node.delete(f"/api/v1/zones/{zone['id']}", headers=who(keys, US, Role.PLANNER))
    assert theirs.status_code == 403
    withdrawn = node.delete(f"/api/v1/zones/{zone['id']}", headers=who(keys, ROK, Role.PLANNER))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["withdrawn"] is True
    assert plan(node, keys).status_code == 201


def test_an_ed269_import_reports_zone_by_zone(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    def feature(name: str, restriction: str) -> dict[str, object]:
        return {
            "identifier": name,
            "name": name,
            "restriction": restriction,
            "applicability": [{"permanent": "YES"}],
            "geometry": [
                {
                    "uomDimensions": "M",
                    "lowerLimit": 0,
                    "lowerVerticalReference": "AGL",
                    "upperLimit": 150,
                    "upperVerticalReference": "AGL",
                    "horizontalProjection": {
                        "type": "Circle",
                        "center": [127.036, 36.966],
                        "radius": 300,
                    },
                }
            ],
        }

    body = {
        "ed269": {"features": [feature("P-73", "PROHIBITED"), feature("Park", "NO_RESTRICTION")]},
        "ground_amsl_m": 16.0,
        "start": START.isoformat(),
    }
    r = node.post("/api/v1/zones", json=body, headers=who(keys, ROK, Role.PLANNER))
    assert r.status_code == 201, r.text
    assert [z["name"] for z in r.json()["published"]] == ["P-73"]
    assert r.json()["skipped"] == ["Park: NO_RESTRICTION (nothing to keep flights out of)"]
    assert plan(node, keys).status_code == 409
    bad = node.post(
        "/api/v1/zones",
        json={"ed269": {"features": [feature("X", "PROHIBITED")]}},
        headers=who(keys, ROK, Role.PLANNER),
    )
    assert bad.status_code == 400  # AGL without the ground elevation
    assert "ground elevation" in bad.json()["detail"]
    observer = node.post("/api/v1/zones", json=body, headers=who(keys, ROK, Role.OBSERVER))
    assert observer.status_code == 403
