"""Constraint references over HTTP: ``/dss/v1/constraint_references``, on both stores."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.helpers import (
    CM,
    CP,
    HUMPHREYS,
    OVN_HIDDEN,
    SC,
    assert_error,
    auth,
    constraint_body,
    new_id,
    now,
    oir_body,
    subscription_body,
    volume4d,
    wire_datetime,
)

CRS = "/dss/v1/constraint_references"
OIRS = "/dss/v1/operational_intent_references"
SUBS = "/dss/v1/subscriptions"
CM1_URL = "https://cm1.example/utm"
FAR_AWAY = (HUMPHREYS[0] + 1.0, HUMPHREYS[1])
TIME_TOLERANCE = timedelta(seconds=1)


def _put(
    client: TestClient,
    key: RSAPrivateKey,
    manager: str,
    body: dict[str, Any],
    cid: str,
    ovn: str | None = None,
    *scopes: str,
) -> Response:
    path = f"{CRS}/{cid}" if ovn is None else f"{CRS}/{cid}/{ovn}"
    return client.put(path, json=body, headers=auth(key, manager, *(scopes or (CM,))))


def _create(
    client: TestClient,
    key: RSAPrivateKey,
    manager: str = "cm1",
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r = _put(client, key, manager, body or constraint_body(), new_id())
    assert r.status_code == 201, r.text
    ref: dict[str, Any] = r.json()["constraint_reference"]
    return ref


def _subscribers(body: dict[str, Any]) -> dict[str, int]:
    return {
        s["subscription_id"]: s["notification_index"]
        for group in body["subscribers"]
        for s in group["subscriptions"]
    }


def _query(
    client: TestClient, key: RSAPrivateKey, manager: str, aoi: dict[str, Any], *scopes: str
) -> list[dict[str, Any]]:
    r = client.post(
        f"{CRS}/query",
        json={"area_of_interest": aoi},
        headers=auth(key, manager, *(scopes or (CP,))),
    )
    assert r.status_code == 200, r.text
    refs: list[dict[str, Any]] = r.json()["constraint_references"]
    return refs


# -- lifecycle ----------------------------------------------------------------------------------


def test_created_constraint_has_version_one_an_ovn_and_utc_times(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=3)
    cid = new_id()
    body = constraint_body([volume4d(start=start, duration=timedelta(hours=1))])
    r = _put(client, signing_key, "cm1", body, cid)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["subscribers"] == []
    ref = created["constraint_reference"]
    assert (ref["id"], ref["manager"], ref["version"]) == (cid, "cm1", 1)
    assert ref["uss_base_url"] == CM1_URL
    assert ref["uss_availability"] == "Unknown"
    assert 16 <= len(ref["ovn"]) <= 128
    for name, sent in (("time_start", start), ("time_end", start + timedelta(hours=1))):
        assert ref[name]["format"] == "RFC3339"
        assert ref[name]["value"].endswith("Z")
        assert abs(wire_datetime(ref[name]) - sent) <= TIME_TOLERANCE


def test_constraints_need_no_altitudes(client: TestClient, signing_key: RSAPrivateKey) -> None:
    extent = volume4d()
    del extent["volume"]["altitude_lower"], extent["volume"]["altitude_upper"]
    _create(client, signing_key, body=constraint_body([extent]))


def test_owner_sees_the_ovn_and_others_see_it_masked(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    for manager, scope, expected in (("cm1", CM, ref["ovn"]), ("uss2", CP, OVN_HIDDEN)):
        r = client.get(f"{CRS}/{ref['id']}", headers=auth(signing_key, manager, scope))
        assert r.status_code == 200, r.text
        seen = r.json()["constraint_reference"]
        assert (seen["id"], seen["version"], seen["ovn"]) == (ref["id"], 1, expected)


def test_query_finds_constraints_by_area_and_time_not_altitude(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=5)
    ref = _create(client, signing_key, body=constraint_body([volume4d(start=start, alt=(0, 100))]))
    (mine,) = _query(client, signing_key, "cm1", volume4d(start=start), CM)
    assert (mine["id"], mine["ovn"]) == (ref["id"], ref["ovn"])
    (theirs,) = _query(client, signing_key, "uss2", volume4d(start=start))
    assert (theirs["id"], theirs["ovn"]) == (ref["id"], OVN_HIDDEN)
    # InterUSS ignores altitude when searching constraints.
    assert len(_query(client, signing_key, "uss2", volume4d(start=start, alt=(500, 600)))) == 1
    later = volume4d(start=start + timedelta(hours=3))
    assert _query(client, signing_key, "uss2", later) == []
    assert _query(client, signing_key, "uss2", volume4d(*FAR_AWAY, start=start)) == []


def test_query_without_an_area_is_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    r = client.post(f"{CRS}/query", json={}, headers=auth(signing_key, "uss2", CP))
    assert_error(r, 400)


def test_update_bumps_the_version_and_changes_the_ovn(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = constraint_body([volume4d(duration=timedelta(hours=2))])
    r = _put(client, signing_key, "cm1", body, ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    updated = r.json()["constraint_reference"]
    assert updated["version"] == 2
    assert updated["ovn"] != ref["ovn"]
    got = client.get(f"{CRS}/{ref['id']}", headers=auth(signing_key, "cm1", CM)).json()
    assert got["constraint_reference"]["ovn"] == updated["ovn"]


def test_delete_returns_the_constraint_as_it_was_and_removes_it(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    h = auth(signing_key, "cm1", CM)
    r = client.delete(f"{CRS}/{ref['id']}/{ref['ovn']}", headers=h)
    assert r.status_code == 200, r.text
    gone = r.json()["constraint_reference"]
    assert (gone["id"], gone["version"], gone["ovn"]) == (ref["id"], 1, ref["ovn"])
    assert_error(client.get(f"{CRS}/{ref['id']}", headers=h), 404)
    assert _query(client, signing_key, "cm1", volume4d(), CM) == []


# -- failures ---------------------------------------------------------------------------------


def test_writes_need_the_constraint_management_scope(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    cid = new_id()
    for scope in (SC, CP):
        assert_error(_put(client, signing_key, "cm1", constraint_body(), cid, None, scope), 403)
    ref = _create(client, signing_key)
    for scope in (SC, CP):
        r = _put(client, signing_key, "cm1", constraint_body(), ref["id"], ref["ovn"], scope)
        assert_error(r, 403, scope)
        r = client.delete(
            f"{CRS}/{ref['id']}/{ref['ovn']}", headers=auth(signing_key, "cm1", scope)
        )
        assert_error(r, 403, scope)
    assert client.get(f"{CRS}/{cid}", headers=auth(signing_key, "cm1", CM)).status_code == 404


def test_reads_need_a_constraint_scope(client: TestClient, signing_key: RSAPrivateKey) -> None:
    ref = _create(client, signing_key)
    h = auth(signing_key, "uss1", SC)
    assert_error(client.get(f"{CRS}/{ref['id']}", headers=h), 403)
    assert_error(client.post(f"{CRS}/query", json={"area_of_interest": volume4d()}, headers=h), 403)


def test_malformed_and_unknown_ids(client: TestClient, signing_key: RSAPrivateKey) -> None:
    h = auth(signing_key, "cm1", CM)
    assert_error(client.get(f"{CRS}/not-a-uuid", headers=h), 400)
    assert_error(client.put(f"{CRS}/not-a-uuid", json=constraint_body(), headers=h), 400)
    assert_error(client.delete(f"{CRS}/not-a-uuid/{'o' * 44}", headers=h), 400)
    assert_error(client.get(f"{CRS}/{new_id()}", headers=h), 404)
    assert_error(client.delete(f"{CRS}/{new_id()}/{'o' * 44}", headers=h), 404)


def test_version_conflicts(client: TestClient, signing_key: RSAPrivateKey) -> None:
    ref = _create(client, signing_key)
    h = auth(signing_key, "cm1", CM)
    cases = {
        "wrong-ovn-update": _put(
            client, signing_key, "cm1", constraint_body(), ref["id"], "x" * 44
        ),
        "create-on-existing": _put(client, signing_key, "cm1", constraint_body(), ref["id"]),
        "empty-ovn-update": client.put(f"{CRS}/{ref['id']}/", json=constraint_body(), headers=h),
        "wrong-ovn-delete": client.delete(f"{CRS}/{ref['id']}/{'x' * 44}", headers=h),
        # InterUSS answers 409 (not 400) when the constraint to update does not exist.
        "update-nonexistent": _put(
            client, signing_key, "cm1", constraint_body(), new_id(), "x" * 44
        ),
    }
    for case, r in cases.items():
        assert_error(r, 409, case)
    got = client.get(f"{CRS}/{ref['id']}", headers=h).json()["constraint_reference"]
    assert (got["version"], got["ovn"]) == (1, ref["ovn"])


def test_delete_with_an_empty_ovn_is_a_bad_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    assert_error(client.delete(f"{CRS}/{ref['id']}/", headers=auth(signing_key, "cm1", CM)), 400)


def test_another_manager_may_neither_update_nor_delete(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = _put(client, signing_key, "cm2", constraint_body(), ref["id"], ref["ovn"])
    assert_error(r, 403)
    r = client.delete(f"{CRS}/{ref['id']}/{ref['ovn']}", headers=auth(signing_key, "cm2", CM))
    assert_error(r, 403)


def test_invalid_constraints_are_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    no_start = volume4d()
    del no_start["time_start"]
    cases = {
        "end-in-past": constraint_body(
            [volume4d(start=now() - timedelta(hours=2), duration=timedelta(hours=1))]
        ),
        "no-start": constraint_body([no_start]),
        "no-extents": {**constraint_body(), "extents": []},
        "no-base-url": {**constraint_body(), "uss_base_url": ""},
    }
    h = auth(signing_key, "cm1", CM)
    for case, body in cases.items():
        cid = new_id()
        assert_error(client.put(f"{CRS}/{cid}", json=body, headers=h), 400, case)
        assert_error(client.get(f"{CRS}/{cid}", headers=h), 404, case)


# -- notifications and the key ----------------------------------------------------------------


def _subscribe(
    client: TestClient, key: RSAPrivateKey, manager: str, body: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    sub_id = new_id()
    r = client.put(f"{SUBS}/{sub_id}", json=body, headers=auth(key, manager))
    assert r.status_code == 200, r.text
    return sub_id, r.json()


def test_constraint_changes_notify_subscriptions_that_asked_for_constraints(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    url = "https://uss2.example/utm"
    watcher, _ = _subscribe(
        client,
        signing_key,
        "uss2",
        subscription_body(base_url=url, for_operational_intents=False, for_constraints=True),
    )
    ops_only, _ = _subscribe(client, signing_key, "uss2", subscription_body(base_url=url))
    far, _ = _subscribe(
        client,
        signing_key,
        "uss2",
        subscription_body(volume4d(*FAR_AWAY), base_url=url, for_constraints=True),
    )
    cid = new_id()
    r = _put(client, signing_key, "cm1", constraint_body(), cid)
    assert r.status_code == 201, r.text
    assert r.json()["subscribers"] == [
        {
            "uss_base_url": url,
            "subscriptions": [{"subscription_id": watcher, "notification_index": 1}],
        }
    ]
    ref = r.json()["constraint_reference"]
    r = _put(client, signing_key, "cm1", constraint_body(), cid, ref["ovn"])
    assert r.status_code == 200, r.text
    assert _subscribers(r.json()) == {watcher: 2}
    ref = r.json()["constraint_reference"]
    r = client.delete(f"{CRS}/{cid}/{ref['ovn']}", headers=auth(signing_key, "cm1", CM))
    assert r.status_code == 200, r.text
    assert _subscribers(r.json()) == {watcher: 3}
    h2 = auth(signing_key, "uss2")
    for sub_id, index in ((watcher, 3), (ops_only, 0), (far, 0)):
        got = client.get(f"{SUBS}/{sub_id}", headers=h2).json()["subscription"]
        assert got["notification_index"] == index, sub_id


def test_moving_a_constraint_notifies_subscribers_of_the_old_area(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    watcher, _ = _subscribe(
        client,
        signing_key,
        "uss2",
        subscription_body(for_operational_intents=False, for_constraints=True),
    )
    ref = _create(client, signing_key)
    r = _put(
        client, signing_key, "cm1", constraint_body([volume4d(*FAR_AWAY)]), ref["id"], ref["ovn"]
    )
    assert r.status_code == 200, r.text
    assert _subscribers(r.json()) == {watcher: 2}


def test_a_subscription_for_constraints_is_told_about_existing_ones(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    _, body = _subscribe(
        client,
        signing_key,
        "uss2",
        subscription_body(for_operational_intents=False, for_constraints=True),
    )
    assert "operational_intent_references" not in body
    (seen,) = body["constraint_references"]
    assert (seen["id"], seen["ovn"]) == (ref["id"], OVN_HIDDEN)


def test_an_intent_whose_subscription_wants_constraints_must_know_them(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = oir_body()
    body["new_subscription"]["notify_for_constraints"] = True
    oid = new_id()
    r = client.put(f"{OIRS}/{oid}", json=body, headers=auth(signing_key, "uss1"))
    conflict = assert_error(r, 409)
    (missing,) = conflict["missing_constraints"]
    assert (missing["id"], missing["ovn"], missing["manager"]) == (ref["id"], OVN_HIDDEN, "cm1")
    assert not conflict.get("missing_operational_intents")
    assert client.get(f"{OIRS}/{oid}", headers=auth(signing_key, "uss1")).status_code == 404

    body["key"] = [ref["ovn"]]
    r = client.put(f"{OIRS}/{oid}", json=body, headers=auth(signing_key, "uss1"))
    assert r.status_code == 201, r.text


def test_an_intent_not_subscribed_to_constraints_ignores_them(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    _create(client, signing_key)
    # Both overlap the constraint; the second is above the first (constraints have no altitude).
    for body in (oir_body(), oir_body([volume4d(alt=(300, 400))], implicit=False)):
        r = client.put(f"{OIRS}/{new_id()}", json=body, headers=auth(signing_key, "uss1"))
        assert r.status_code == 201, r.text
