"""Builders for F3548 wire bodies and tokens used across the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from dronecoop.auth.devkeys import mint_token

SC = "utm.strategic_coordination"
CM = "utm.constraint_management"
CP = "utm.constraint_processing"
CMSA = "utm.conformance_monitoring_sa"
AA = "utm.availability_arbitration"
ALL_SCOPES = (SC, CM, CP, CMSA, AA)

# Camp Humphreys, Pyeongtaek (ROK): where the allies' exercise area is.
HUMPHREYS = (36.9628, 127.0311)


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


def wire_time(moment: datetime) -> dict[str, str]:
    return {"value": moment.isoformat().replace("+00:00", "Z"), "format": "RFC3339"}


def square(lat: float, lng: float, half_deg: float = 0.005) -> dict[str, Any]:
    return {
        "vertices": [
            {"lat": lat - half_deg, "lng": lng - half_deg},
            {"lat": lat - half_deg, "lng": lng + half_deg},
            {"lat": lat + half_deg, "lng": lng + half_deg},
            {"lat": lat + half_deg, "lng": lng - half_deg},
        ]
    }


def volume4d(
    lat: float = HUMPHREYS[0],
    lng: float = HUMPHREYS[1],
    *,
    start: datetime | None = None,
    duration: timedelta = timedelta(minutes=30),
    alt: tuple[float, float] = (0.0, 120.0),
    radius_m: float | None = None,
    half_deg: float = 0.005,
) -> dict[str, Any]:
    start = start or now() + timedelta(minutes=1)
    volume: dict[str, Any] = {
        "altitude_lower": {"value": alt[0], "reference": "W84", "units": "M"},
        "altitude_upper": {"value": alt[1], "reference": "W84", "units": "M"},
    }
    if radius_m is not None:
        volume["outline_circle"] = {
            "center": {"lat": lat, "lng": lng},
            "radius": {"value": radius_m, "units": "M"},
        }
    else:
        volume["outline_polygon"] = square(lat, lng, half_deg)
    return {
        "volume": volume,
        "time_start": wire_time(start),
        "time_end": wire_time(start + duration),
    }


def oir_body(
    extents: list[dict[str, Any]] | None = None,
    *,
    key: list[str] | None = None,
    state: str = "Accepted",
    base_url: str = "https://uss1.example/utm",
    subscription_id: str | None = None,
    implicit: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "extents": extents or [volume4d()],
        "key": key or [],
        "state": state,
        "uss_base_url": base_url,
    }
    if subscription_id is not None:
        body["subscription_id"] = subscription_id
    elif implicit:
        body["new_subscription"] = {"uss_base_url": base_url, "notify_for_constraints": False}
    return body


def token(key: RSAPrivateKey, sub: str, *scopes: str, audience: str = "localhost") -> str:
    return mint_token(key, sub=sub, scopes=scopes or ALL_SCOPES, audience=audience)


def auth(key: RSAPrivateKey, sub: str, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(key, sub, *scopes)}"}


# -- builders for the DSS end-to-end suite -------------------------------------------------

NULL_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000000"  # InterUSS: "no subscription"
OVN_HIDDEN = "Available from USS"  # F3548-21: what non-managers see instead of an OVN


def uuid7(at: datetime | None = None) -> str:
    """A UUIDv7 built by hand (RFC 9562): ms timestamp in the top 48 bits, version 7, variant 10."""
    ms = int((at or now()).timestamp() * 1000) & ((1 << 48) - 1)
    rand_a = uuid.uuid4().int & ((1 << 12) - 1)
    rand_b = uuid.uuid4().int & ((1 << 62) - 1)
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b))


def subscription_body(
    extents: dict[str, Any] | None = None,
    *,
    base_url: str = "https://uss1.example/utm",
    for_operational_intents: bool = True,
    for_constraints: bool = False,
) -> dict[str, Any]:
    return {
        "extents": extents or volume4d(),
        "uss_base_url": base_url,
        "notify_for_operational_intents": for_operational_intents,
        "notify_for_constraints": for_constraints,
    }


def constraint_body(
    extents: list[dict[str, Any]] | None = None, *, base_url: str = "https://cm1.example/utm"
) -> dict[str, Any]:
    return {"extents": extents or [volume4d()], "uss_base_url": base_url}


def error_report_body() -> dict[str, Any]:
    return {
        "exchange": {
            "url": "https://uss2.example/utm/uss/v1/operational_intents/x",
            "method": "GET",
            "headers": ["Authorization: Bearer redacted"],
            "recorder_role": "Client",
            "request_source": "uss1",  # required by the spec, yet left undefined there
            "request_time": wire_time(now()),
            "response_code": 500,
            "problem": "peer USS answered 500",
        }
    }


def wire_datetime(value: dict[str, str]) -> datetime:
    """The datetime of an F3548 ``Time`` body."""
    return datetime.fromisoformat(value["value"].replace("Z", "+00:00"))


def assert_error(r: Any, status: int, case: str = "") -> dict[str, Any]:
    """Assert an F3548 error: ``status`` and a JSON ``{"message": ...}`` body."""
    assert r.status_code == status, f"{case}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json"), case
    body: dict[str, Any] = r.json()
    assert isinstance(body.get("message"), str), f"{case}: {body}"
    assert body["message"], case
    return body


# -- partners ------------------------------------------------------------------------------
def partner_issuer(partner: str) -> str:
    return f"https://auth.{partner}.example"


def write_partners_file(
    folder: Path, keys: dict[str, RSAPrivateKey], depots: tuple[str, ...] = (), **extra: str
) -> Path:
    """A partners file trusting each partner's key for its own issuer (``depots``: the
    partners running a depot; extra: raw TOML)."""
    lines = []
    for partner, key in keys.items():
        pem = folder / f"{partner}.pem"
        pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        lines += [
            f"[partners.{partner}]",
            f'issuers = ["{partner_issuer(partner)}"]',
            f'public_key_files = ["{pem.name}"]',
            *(["depot = true"] if partner in depots else []),
            "",
        ]
    lines += extra.values()
    path = folder / "partners.toml"
    path.write_text("\n".join(lines))
    return path


def partner_auth(key: RSAPrivateKey, partner: str, sub: str, *scopes: str) -> dict[str, str]:
    token = mint_token(
        key, sub=sub, scopes=scopes, audience="localhost", issuer=partner_issuer(partner)
    )
    return {"Authorization": f"Bearer {token}"}


def upload_log(
    client: Any, headers: dict[str, str], aircraft_id: str, name: str = "flight.tlog"
) -> dict[str, Any]:
    """Upload one of the shared real logs for an aircraft; the ingest answer."""
    from tests.conftest import shared_file

    answer = client.post(
        "/api/v1/logs",
        content=shared_file(f"data/logs/{name}").read_bytes(),
        params={"aircraft": aircraft_id, "filename": name},
        headers=headers,
    )
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    return result
