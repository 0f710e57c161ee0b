"""Builders for F3548 wire bodies and tokens used across the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

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
