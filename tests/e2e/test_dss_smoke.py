from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from tests.helpers import auth, new_id, oir_body, volume4d


def test_create_get_and_delete_an_operational_intent(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = auth(signing_key, "uss1")
    oid = new_id()
    r = client.put(f"/dss/v1/operational_intent_references/{oid}", json=oir_body(), headers=h)
    assert r.status_code == 201, r.text
    ref = r.json()["operational_intent_reference"]
    assert ref["version"] == 1
    r = client.get(f"/dss/v1/operational_intent_references/{oid}", headers=h)
    assert r.status_code == 200
    r = client.post(
        "/dss/v1/operational_intent_references/query",
        json={"area_of_interest": volume4d()},
        headers=h,
    )
    assert [x["id"] for x in r.json()["operational_intent_references"]] == [oid]
    r = client.delete(f"/dss/v1/operational_intent_references/{oid}/{ref['ovn']}", headers=h)
    assert r.status_code == 200, r.text
