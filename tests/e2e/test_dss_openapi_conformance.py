"""Response bodies of every ``/dss/v1`` operation validate against the official F3548-21 OpenAPI.

The spec is read where it lives (``specs/astm-f3548-21-utm.yaml`` in the shared folder,
``DRONECOOP_SHARED_DIR``, by default ``../shared`` beside this checkout), never copied.
Each response is validated against the schema the spec declares for its path, method and
status code, with ``#/components/schemas/...`` references resolved inside the spec. OpenAPI 3.0
schemas are JSON Schema draft 4 in spirit (boolean ``exclusiveMinimum``), so draft 4 it is.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient
from httpx2 import Response
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.conftest import shared_file
from tests.helpers import (
    AA,
    CM,
    CP,
    SC,
    auth,
    constraint_body,
    error_report_body,
    new_id,
    now,
    oir_body,
    subscription_body,
    volume4d,
)

SPEC_FILE = "specs/astm-f3548-21-utm.yaml"
SPEC_URI = "urn:astm:f3548-21:utm"

# F3548-21 Time.value: "RFC3339-formatted time/date string. The time zone must be 'Z'."
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

OIR = "/dss/v1/operational_intent_references"
CR = "/dss/v1/constraint_references"
SUBS = "/dss/v1/subscriptions"
USS2_URL = "https://uss2.example/utm"


class Conformance:
    """Validates responses against the spec and remembers which operations it saw."""

    def __init__(
        self, spec: dict[str, Any], uri: str = SPEC_URI, others: dict[str, Any] | None = None
    ) -> None:
        """``others``: the documents ``spec`` refers to, by URI (relative refs resolve
        against ``uri``)."""
        self._paths: dict[str, Any] = spec["paths"]
        self._uri = uri
        self._registry: Registry[Any] = Registry().with_resources(
            [(uri, DRAFT4.create_resource(spec))]
            + [(u, DRAFT4.create_resource(doc)) for u, doc in (others or {}).items()]
        )
        self._formats = FormatChecker(formats=())
        self._formats.checks("date-time")(
            lambda value: not isinstance(value, str) or bool(RFC3339_UTC.match(value))
        )
        self.seen: set[tuple[str, str]] = set()

    def dss_operations(self) -> set[tuple[str, str]]:
        return {
            (method.upper(), path)
            for path, item in self._paths.items()
            if path.startswith("/dss/v1/")
            for method in item
            if method in {"get", "put", "post", "delete"}
        }

    def errors(self, method: str, template: str, status: int, body: Any) -> list[str]:
        """What is wrong with ``body`` as the spec's response to ``method template``."""
        responses = self._paths[template][method.lower()]["responses"]
        if str(status) not in responses:
            return [f"{status} is not a declared response"]
        ref = responses[str(status)]["content"]["application/json"]["schema"]["$ref"]
        validator = Draft4Validator(
            {"$ref": self._uri + ref}, registry=self._registry, format_checker=self._formats
        )
        return [
            f"{ref} at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def request_errors(self, method: str, template: str, body: Any) -> list[str]:
        """What is wrong with ``body`` as the spec's request body of ``method template``."""
        content = self._paths[template][method.lower()]["requestBody"]["content"]
        ref = content["application/json"]["schema"]["$ref"]
        validator = Draft4Validator(
            {"$ref": self._uri + ref}, registry=self._registry, format_checker=self._formats
        )
        return [
            f"{ref} at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def check(self, r: Response, template: str, status: int) -> dict[str, Any]:
        """Assert ``status`` and that the body is what the spec declares for it."""
        method = r.request.method
        assert r.status_code == status, f"{method} {template}: {r.status_code} {r.text}"
        body: dict[str, Any] = r.json()
        errors = self.errors(method, template, status, body)
        assert not errors, f"{method} {template} {status}:\n" + "\n".join(errors)
        self.seen.add((method, template))
        return body


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(shared_file(SPEC_FILE).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def conformance(spec: dict[str, Any]) -> Conformance:
    return Conformance(spec)


def test_the_validator_rejects_what_the_spec_forbids(conformance: Conformance) -> None:
    """Guard against a validator that accepts anything (e.g. refs that never resolve)."""
    good = {
        "id": new_id(),
        "manager": "uss1",
        "uss_availability": "Unknown",
        "version": 1,
        "state": "Accepted",
        "ovn": "o" * 44,
        "time_start": {"value": "2030-01-01T00:00:00Z", "format": "RFC3339"},
        "time_end": {"value": "2030-01-01T01:00:00.5Z", "format": "RFC3339"},
        "uss_base_url": "https://uss1.example/utm",
        "subscription_id": new_id(),
    }
    path = f"{OIR}/{{entityid}}"
    assert conformance.errors("GET", path, 200, {"operational_intent_reference": good}) == []
    bad = {
        "short ovn": {**good, "ovn": "short"},
        "offset time": {**good, "time_start": {"value": "2030-01-01T00:00:00+00:00"}},
        "no time format": {**good, "time_end": {"value": "2030-01-01T00:00:00Z"}},
        "no subscription_id": {k: v for k, v in good.items() if k != "subscription_id"},
        "string version": {**good, "version": "1"},
        "ended state": {**good, "state": "Ended"},
        "uuid1 id": {**good, "id": "2f8343be-6482-1d1b-a474-16847e01af1e"},
    }
    for case, ref in bad.items():
        assert conformance.errors("GET", path, 200, {"operational_intent_reference": ref}), case
    assert conformance.errors("GET", path, 418, {})
    negative_index = {
        "subscription": {
            "id": new_id(),
            "version": "v",
            "uss_base_url": "u",
            "notification_index": -1,
        }
    }
    assert conformance.errors("GET", f"{SUBS}/{{subscriptionid}}", 200, negative_index)
    zero_index = {"subscription": {**negative_index["subscription"], "notification_index": 0}}
    assert conformance.errors("GET", f"{SUBS}/{{subscriptionid}}", 200, zero_index) == []


def test_every_dss_operation_answers_as_the_spec_declares(
    client: TestClient, signing_key: RSAPrivateKey, conformance: Conformance
) -> None:
    c = conformance
    h1, h2 = auth(signing_key, "uss1"), auth(signing_key, "uss2")
    hcm, hcp, haa = (
        auth(signing_key, "cm1", CM),
        auth(signing_key, "uss2", CP),
        auth(signing_key, "arbiter", AA),
    )
    oir_item, oir_ovn = f"{OIR}/{{entityid}}", f"{OIR}/{{entityid}}/{{ovn}}"
    cr_item, cr_ovn = f"{CR}/{{entityid}}", f"{CR}/{{entityid}}/{{ovn}}"
    sub_item, sub_version = f"{SUBS}/{{subscriptionid}}", f"{SUBS}/{{subscriptionid}}/{{version}}"
    aoi = {"area_of_interest": volume4d()}

    # Subscriptions: a watcher of both kinds, by another USS.
    sub_id = new_id()
    body = c.check(
        client.put(
            f"{SUBS}/{sub_id}",
            json=subscription_body(for_constraints=True, base_url=USS2_URL),
            headers=h2,
        ),
        sub_item,
        200,
    )
    sub = body["subscription"]

    # Constraint references.
    cid = new_id()
    body = c.check(client.put(f"{CR}/{cid}", json=constraint_body(), headers=hcm), cr_item, 201)
    assert body["subscribers"], "the watcher must be told"
    cref = body["constraint_reference"]
    c.check(client.get(f"{CR}/{cid}", headers=hcm), cr_item, 200)
    c.check(client.get(f"{CR}/{cid}", headers=hcp), cr_item, 200)  # masked OVN
    c.check(client.post(f"{CR}/query", json=aoi, headers=hcp), f"{CR}/query", 200)
    body = c.check(
        client.put(f"{CR}/{cid}/{cref['ovn']}", json=constraint_body(), headers=hcm), cr_ovn, 200
    )
    cref = body["constraint_reference"]

    # Operational intent references: one by uss1, a conflicting attempt by uss2.
    oid = new_id()
    body = c.check(client.put(f"{OIR}/{oid}", json=oir_body(), headers=h1), oir_item, 201)
    assert len(body["subscribers"]) == 2
    ref = body["operational_intent_reference"]
    conflict = oir_body(base_url=USS2_URL)
    conflict["new_subscription"]["notify_for_constraints"] = True
    body = c.check(client.put(f"{OIR}/{new_id()}", json=conflict, headers=h2), oir_item, 409)
    assert body["missing_operational_intents"]
    assert body["missing_constraints"]
    c.check(client.get(f"{OIR}/{oid}", headers=h1), oir_item, 200)
    c.check(client.get(f"{OIR}/{oid}", headers=h2), oir_item, 200)  # masked OVN
    body = c.check(client.post(f"{OIR}/query", json=aoi, headers=h2), f"{OIR}/query", 200)
    assert body["operational_intent_references"]
    update = oir_body(state="Activated", subscription_id=ref["subscription_id"])
    body = c.check(client.put(f"{OIR}/{oid}/{ref['ovn']}", json=update, headers=h1), oir_ovn, 200)
    ref = body["operational_intent_reference"]
    c.check(client.put(f"{OIR}/{oid}/{'x' * 44}", json=update, headers=h1), oir_ovn, 409)

    # Subscriptions see both kinds of references.
    body = c.check(client.get(f"{SUBS}/{sub_id}", headers=h2), sub_item, 200)
    body = c.check(client.post(f"{SUBS}/query", json=aoi, headers=h2), f"{SUBS}/query", 200)
    assert [s["id"] for s in body["subscriptions"]] == [sub_id]
    sub = body["subscriptions"][0]
    body = c.check(
        client.put(
            f"{SUBS}/{sub_id}/{sub['version']}",
            json=subscription_body(for_constraints=True),
            headers=h2,
        ),
        sub_version,
        200,
    )
    assert body["operational_intent_references"]
    assert body["constraint_references"]
    sub = body["subscription"]

    # USS availability and reports.
    avail = "/dss/v1/uss_availability/{uss_id}"
    body = c.check(client.get("/dss/v1/uss_availability/uss1", headers=haa), avail, 200)
    c.check(
        client.put(
            "/dss/v1/uss_availability/uss1",
            json={"old_version": body["version"], "availability": "Normal"},
            headers=haa,
        ),
        avail,
        200,
    )
    c.check(
        client.post("/dss/v1/reports", json=error_report_body(), headers=h1),
        "/dss/v1/reports",
        201,
    )

    # Deletions.
    c.check(client.delete(f"{OIR}/{oid}/{ref['ovn']}", headers=h1), oir_ovn, 200)
    c.check(client.delete(f"{CR}/{cid}/{cref['ovn']}", headers=hcm), cr_ovn, 200)
    c.check(client.delete(f"{SUBS}/{sub_id}/{sub['version']}", headers=h2), sub_version, 200)

    assert c.seen == c.dss_operations(), c.dss_operations() - c.seen


def test_error_responses_have_the_declared_shape(
    client: TestClient, signing_key: RSAPrivateKey, conformance: Conformance
) -> None:
    c = conformance
    h = auth(signing_key, "uss1")
    oir_item = f"{OIR}/{{entityid}}"
    sub_item = f"{SUBS}/{{subscriptionid}}"
    c.check(client.get(f"{OIR}/{new_id()}", headers=h), oir_item, 404)
    c.check(client.get(f"{OIR}/nope", headers=h), oir_item, 400)
    c.check(client.get(f"{OIR}/{new_id()}"), oir_item, 401)
    c.check(client.get(f"{OIR}/{new_id()}", headers=auth(signing_key, "uss1", CM)), oir_item, 403)
    past = [volume4d(start=now() - timedelta(hours=2), duration=timedelta(hours=1))]
    c.check(client.put(f"{OIR}/{new_id()}", json=oir_body(past), headers=h), oir_item, 400)
    c.check(client.put(f"{SUBS}/{new_id()}", json={}, headers=h), sub_item, 400)
    huge = {"area_of_interest": volume4d(half_deg=0.5)}
    c.check(client.post(f"{SUBS}/query", json=huge, headers=h), f"{SUBS}/query", 413)
    c.check(
        client.post("/dss/v1/reports", json={}, headers=auth(signing_key, "uss1", SC)),
        "/dss/v1/reports",
        400,
    )
