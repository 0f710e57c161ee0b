"""Operational intent references over HTTP: ``/dss/v1/operational_intent_references``.

Every test runs on both stores (the ``client`` fixture is parametrized over SQLite and
PostgreSQL). Expected codes follow /work/notes/scd_semantics.md (InterUSS ``dss``).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.helpers import (
    AA,
    CMSA,
    HUMPHREYS,
    NULL_SUBSCRIPTION_ID,
    OVN_HIDDEN,
    SC,
    assert_error,
    auth,
    new_id,
    now,
    oir_body,
    subscription_body,
    uuid7,
    volume4d,
    wire_datetime,
)

OIRS = "/dss/v1/operational_intent_references"
SUBS = "/dss/v1/subscriptions"
USS1_URL = "https://uss1.example/utm"
USS2_URL = "https://uss2.example/utm"
FAR_AWAY = (HUMPHREYS[0] + 1.0, HUMPHREYS[1])  # ~110 km north: no shared S2 cell
TIME_TOLERANCE = timedelta(seconds=1)  # uss_qualifier's tolerance on echoed times


def _put(
    client: TestClient,
    key: RSAPrivateKey,
    manager: str,
    body: dict[str, Any],
    oid: str,
    ovn: str | None = None,
    *scopes: str,
) -> Response:
    path = f"{OIRS}/{oid}" if ovn is None else f"{OIRS}/{oid}/{ovn}"
    return client.put(path, json=body, headers=auth(key, manager, *scopes))


def _create(
    client: TestClient,
    key: RSAPrivateKey,
    manager: str = "uss1",
    body: dict[str, Any] | None = None,
    oid: str | None = None,
) -> dict[str, Any]:
    """Create an intent that must succeed; return its reference."""
    base_url = USS1_URL if manager == "uss1" else USS2_URL
    r = _put(client, key, manager, body or oir_body(base_url=base_url), oid or new_id())
    assert r.status_code == 201, r.text
    ref: dict[str, Any] = r.json()["operational_intent_reference"]
    return ref


def _get(client: TestClient, key: RSAPrivateKey, manager: str, oid: str) -> Response:
    return client.get(f"{OIRS}/{oid}", headers=auth(key, manager))


def _query(
    client: TestClient, key: RSAPrivateKey, manager: str, aoi: dict[str, Any]
) -> list[dict[str, Any]]:
    r = client.post(f"{OIRS}/query", json={"area_of_interest": aoi}, headers=auth(key, manager))
    assert r.status_code == 200, r.text
    refs: list[dict[str, Any]] = r.json()["operational_intent_references"]
    return refs


def _subscribers(body: dict[str, Any]) -> dict[str, int]:
    """subscription id -> notification index, from a change response's ``subscribers``."""
    return {
        s["subscription_id"]: s["notification_index"]
        for group in body["subscribers"]
        for s in group["subscriptions"]
    }


# -- create, read, update, delete ---------------------------------------------------------------


def test_created_intent_has_version_one_an_ovn_and_utc_times(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=2)
    extents = [volume4d(start=start, duration=timedelta(minutes=20))]
    oid = new_id()
    r = _put(client, signing_key, "uss1", oir_body(extents, base_url=USS1_URL), oid)
    assert r.status_code == 201, r.text
    ref = r.json()["operational_intent_reference"]
    assert ref["id"] == oid
    assert ref["manager"] == "uss1"
    assert ref["version"] == 1
    assert ref["state"] == "Accepted"
    assert ref["uss_base_url"] == USS1_URL
    assert ref["uss_availability"] == "Unknown"
    assert 16 <= len(ref["ovn"]) <= 128
    for name, sent in (("time_start", start), ("time_end", start + timedelta(minutes=20))):
        assert ref[name]["format"] == "RFC3339"
        assert ref[name]["value"].endswith("Z")
        assert abs(wire_datetime(ref[name]) - sent) <= TIME_TOLERANCE


def test_intents_of_several_volumes_span_their_union(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=1)
    extents = [
        volume4d(start=start, duration=timedelta(minutes=10)),
        volume4d(
            HUMPHREYS[0] + 0.02, start=start + timedelta(minutes=30), duration=timedelta(minutes=5)
        ),
    ]
    ref = _create(client, signing_key, body=oir_body(extents))
    assert abs(wire_datetime(ref["time_start"]) - start) <= TIME_TOLERANCE
    assert abs(wire_datetime(ref["time_end"]) - (start + timedelta(minutes=35))) <= TIME_TOLERANCE


def test_owner_sees_the_ovn_and_other_managers_see_it_masked(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    mine = _get(client, signing_key, "uss1", ref["id"])
    assert mine.status_code == 200, mine.text
    assert mine.json()["operational_intent_reference"]["ovn"] == ref["ovn"]
    theirs = _get(client, signing_key, "uss2", ref["id"])
    assert theirs.status_code == 200, theirs.text
    seen = theirs.json()["operational_intent_reference"]
    assert seen["ovn"] == OVN_HIDDEN
    assert seen["version"] == 1
    assert seen["manager"] == "uss1"


def test_query_finds_intents_by_area_time_and_altitude(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=5)
    ref = _create(
        client,
        signing_key,
        body=oir_body([volume4d(start=start, duration=timedelta(minutes=30), alt=(50, 120))]),
    )
    same = volume4d(start=start, duration=timedelta(minutes=30), alt=(0, 200))
    assert [x["id"] for x in _query(client, signing_key, "uss1", same)] == [ref["id"]]

    later = volume4d(start=start + timedelta(hours=2), duration=timedelta(minutes=10))
    earlier = volume4d(start=now(), duration=timedelta(minutes=2))
    above = volume4d(start=start, alt=(500, 600))
    below = volume4d(start=start, alt=(0, 40))
    elsewhere = volume4d(*FAR_AWAY, start=start)
    for aoi in (later, earlier, above, below, elsewhere):
        assert _query(client, signing_key, "uss1", aoi) == []

    # Another manager finds it too, without its OVN.
    (seen,) = _query(client, signing_key, "uss2", same)
    assert seen["id"] == ref["id"]
    assert seen["ovn"] == OVN_HIDDEN


def test_query_with_an_unbounded_time_finds_the_intent(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    aoi = volume4d()
    del aoi["time_start"], aoi["time_end"]
    del aoi["volume"]["altitude_lower"], aoi["volume"]["altitude_upper"]
    assert [x["id"] for x in _query(client, signing_key, "uss1", aoi)] == [ref["id"]]


def test_query_without_a_footprint_is_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    cases = {
        "no-area": {},
        "no-volume": {"area_of_interest": {"time_start": None}},
        "no-footprint": {"area_of_interest": {"volume": {"altitude_lower": None}}},
    }
    for case, body in cases.items():
        r = client.post(f"{OIRS}/query", json=body, headers=auth(signing_key, "uss1"))
        assert_error(r, 400, case)


def test_update_bumps_the_version_and_changes_the_ovn(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = oir_body([volume4d(duration=timedelta(minutes=45))], base_url=USS1_URL)
    r = _put(client, signing_key, "uss1", body, ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    updated = r.json()["operational_intent_reference"]
    assert updated["version"] == 2
    assert updated["ovn"] != ref["ovn"]
    assert 16 <= len(updated["ovn"]) <= 128
    got = _get(client, signing_key, "uss1", ref["id"]).json()["operational_intent_reference"]
    assert (got["version"], got["ovn"]) == (2, updated["ovn"])


def test_any_transition_between_accepted_and_activated_is_allowed(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    for version, state in ((2, "Activated"), (3, "Accepted")):
        body = oir_body(state=state, subscription_id=ref["subscription_id"])
        r = _put(client, signing_key, "uss1", body, ref["id"], ref["ovn"])
        assert r.status_code == 200, r.text
        ref = r.json()["operational_intent_reference"]
        assert (ref["version"], ref["state"]) == (version, state)


def test_delete_returns_the_reference_as_it_was_and_removes_it(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = client.delete(f"{OIRS}/{ref['id']}/{ref['ovn']}", headers=auth(signing_key, "uss1"))
    assert r.status_code == 200, r.text
    gone = r.json()["operational_intent_reference"]
    assert (gone["id"], gone["version"], gone["ovn"]) == (ref["id"], 1, ref["ovn"])
    assert_error(_get(client, signing_key, "uss1", ref["id"]), 404)
    assert _query(client, signing_key, "uss1", volume4d()) == []


# -- identifiers, versions and ownership ------------------------------------------------------

BAD_IDS = (
    "not-a-uuid",
    str(uuid.uuid1()),
    "2f8343be-6482-4d1b-a474-16847e01af1",  # too short
    "2f8343be-6482-4d1b-0474-16847e01af1e",  # not the RFC 4122 variant
)


def test_a_malformed_id_is_refused_everywhere(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = auth(signing_key, "uss1")
    ovn = "o" * 44
    for bad_id in BAD_IDS:
        assert_error(client.get(f"{OIRS}/{bad_id}", headers=h), 400, bad_id)
        assert_error(client.put(f"{OIRS}/{bad_id}", json=oir_body(), headers=h), 400, bad_id)
        r = client.put(f"{OIRS}/{bad_id}/{ovn}", json=oir_body(), headers=h)
        assert_error(r, 400, bad_id)
        assert_error(client.delete(f"{OIRS}/{bad_id}/{ovn}", headers=h), 400, bad_id)


def test_get_on_the_query_path_is_a_bad_id_not_a_route_error(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    assert_error(client.get(f"{OIRS}/query", headers=auth(signing_key, "uss1")), 400)


def test_ids_are_canonicalised_to_lower_case(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    oid = new_id()
    ref = _create(client, signing_key, oid=oid.upper())
    assert ref["id"] == oid
    assert _get(client, signing_key, "uss1", oid).status_code == 200


def test_get_of_an_unknown_intent_is_404(client: TestClient, signing_key: RSAPrivateKey) -> None:
    assert_error(_get(client, signing_key, "uss1", new_id()), 404)
    assert_error(_get(client, signing_key, "uss1", NULL_SUBSCRIPTION_ID), 404)


def test_update_with_a_wrong_ovn_is_a_conflict(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = _put(client, signing_key, "uss1", oir_body(), ref["id"], "x" * 44)
    assert_error(r, 409)
    got = _get(client, signing_key, "uss1", ref["id"]).json()["operational_intent_reference"]
    assert (got["version"], got["ovn"]) == (1, ref["ovn"])


def test_delete_with_a_wrong_ovn_is_a_conflict(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = client.delete(f"{OIRS}/{ref['id']}/{'x' * 44}", headers=auth(signing_key, "uss1"))
    assert_error(r, 409)
    assert _get(client, signing_key, "uss1", ref["id"]).status_code == 200


def test_another_manager_may_neither_update_nor_delete_even_with_the_real_ovn(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = oir_body(key=[ref["ovn"]], base_url=USS2_URL)
    assert_error(_put(client, signing_key, "uss2", body, ref["id"], ref["ovn"]), 403)
    r = client.delete(f"{OIRS}/{ref['id']}/{ref['ovn']}", headers=auth(signing_key, "uss2"))
    assert_error(r, 403)
    got = _get(client, signing_key, "uss1", ref["id"]).json()["operational_intent_reference"]
    assert (got["manager"], got["version"], got["ovn"]) == ("uss1", 1, ref["ovn"])


def test_update_of_a_nonexistent_intent_is_a_bad_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    oid = new_id()
    assert_error(_put(client, signing_key, "uss1", oir_body(), oid, "x" * 44), 400)
    assert_error(_get(client, signing_key, "uss1", oid), 404)


def test_delete_of_a_nonexistent_intent_is_404(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    r = client.delete(f"{OIRS}/{new_id()}/{'x' * 44}", headers=auth(signing_key, "uss1"))
    assert_error(r, 404)


def test_create_on_an_existing_id_is_a_conflict(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = _put(client, signing_key, "uss1", oir_body(key=[ref["ovn"]]), ref["id"])
    assert_error(r, 409)


def test_trailing_slash_routes_mean_an_empty_ovn(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    h = auth(signing_key, "uss1")
    assert_error(client.put(f"{OIRS}/{ref['id']}/", json=oir_body(), headers=h), 409)
    assert_error(client.delete(f"{OIRS}/{ref['id']}/", headers=h), 400)
    got = _get(client, signing_key, "uss1", ref["id"]).json()["operational_intent_reference"]
    assert got["ovn"] == ref["ovn"]


# -- validation of the request ------------------------------------------------------------------


def _without(volume: dict[str, Any], *path: str) -> dict[str, Any]:
    target = volume
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return volume


def test_invalid_extents_are_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    cases: dict[str, list[dict[str, Any]]] = {
        "end-in-past": [volume4d(start=now() - timedelta(hours=2), duration=timedelta(hours=1))],
        "no-lower-altitude": [_without(volume4d(), "volume", "altitude_lower")],
        "no-upper-altitude": [_without(volume4d(), "volume", "altitude_upper")],
        "no-start": [_without(volume4d(), "time_start")],
        "no-end": [_without(volume4d(), "time_end")],
        "no-outline": [_without(volume4d(), "volume", "outline_polygon")],
        "lower-above-upper": [volume4d(alt=(200, 100))],
        "end-before-start": [volume4d(duration=timedelta(minutes=-5))],
        "zero-radius": [volume4d(radius_m=0)],
        "no-extents": [],
    }
    for case, extents in cases.items():
        oid = new_id()
        body = {**oir_body(), "extents": extents}
        assert_error(_put(client, signing_key, "uss1", body, oid), 400, case)
        assert_error(_get(client, signing_key, "uss1", oid), 404, case)


def test_an_intent_may_start_in_the_past_if_it_ends_in_the_future(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() - timedelta(seconds=10)
    _create(client, signing_key, body=oir_body([volume4d(start=start)]))


def test_invalid_parameters_are_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    cases: dict[str, dict[str, Any]] = {
        "empty-base-url": {"uss_base_url": ""},
        "state-ended": {"state": "Ended"},
        "state-unknown": {"state": "Flying"},
        "bad-sub-id": {"subscription_id": "nope", "new_subscription": None},
        "sub-id-and-new-subscription": {"subscription_id": new_id()},
        "new-sub-without-url": {"new_subscription": {"uss_base_url": ""}},
        # JSON may carry U+0000; no PostgreSQL text column can (was a 500 there).
        "nul-in-base-url": {"uss_base_url": "https://uss1.example/\u0000utm"},
        "nul-in-new-sub-url": {"new_subscription": {"uss_base_url": "https://x.example\u0000"}},
    }
    for case, change in cases.items():
        oid = new_id()
        body = {**oir_body(), **change}
        assert_error(_put(client, signing_key, "uss1", body, oid), 400, case)
        assert_error(_get(client, signing_key, "uss1", oid), 404, case)


def test_attaching_an_unknown_subscription_is_a_bad_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    body = oir_body(subscription_id=new_id())
    assert_error(_put(client, signing_key, "uss1", body, new_id()), 400)


def test_creating_an_intent_directly_in_activated_state_is_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    oid = new_id()
    r = _put(client, signing_key, "uss1", oir_body(state="Activated"), oid)
    body = assert_error(r, 400)
    assert "Activated" in body["message"]
    assert_error(_get(client, signing_key, "uss1", oid), 404)


def test_activating_without_any_subscription_is_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key, body=oir_body(implicit=False))
    assert ref["subscription_id"] == NULL_SUBSCRIPTION_ID
    body = oir_body(state="Activated", implicit=False)
    err = assert_error(_put(client, signing_key, "uss1", body, ref["id"], ref["ovn"]), 400)
    assert "subscription" in err["message"]
    got = _get(client, signing_key, "uss1", ref["id"]).json()["operational_intent_reference"]
    assert got["state"] == "Accepted"


def test_nonconforming_needs_the_conformance_monitoring_scope(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = oir_body(state="Nonconforming", subscription_id=ref["subscription_id"])
    r = _put(client, signing_key, "uss1", body, ref["id"], ref["ovn"], SC)
    assert_error(r, 403)
    r = _put(client, signing_key, "uss1", body, ref["id"], ref["ovn"], SC, CMSA)
    assert r.status_code == 200, r.text
    assert r.json()["operational_intent_reference"]["state"] == "Nonconforming"


def test_contingent_needs_the_conformance_monitoring_scope(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = oir_body(state="Contingent", subscription_id=ref["subscription_id"])
    assert_error(_put(client, signing_key, "uss1", body, ref["id"], ref["ovn"], SC), 403)
    r = _put(client, signing_key, "uss1", body, ref["id"], ref["ovn"], CMSA)
    assert r.status_code == 200, r.text


# -- the key: proof of knowledge of the airspace ---------------------------------------------


def test_conflicting_intent_without_key_is_refused_with_the_missing_intents(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key, "uss1")
    oid = new_id()
    r = _put(client, signing_key, "uss2", oir_body(base_url=USS2_URL), oid)
    body = assert_error(r, 409)
    (missing,) = body["missing_operational_intents"]
    assert missing["id"] == first["id"]
    assert missing["manager"] == "uss1"
    assert missing["ovn"] == OVN_HIDDEN
    assert "missing_constraints" not in body or body["missing_constraints"] == []
    assert_error(_get(client, signing_key, "uss2", oid), 404)


def test_conflict_lists_every_conflicting_intent(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key, "uss1")
    second = _create(client, signing_key, "uss1", oir_body(key=[first["ovn"]], base_url=USS1_URL))
    r = _put(client, signing_key, "uss2", oir_body(key=[first["ovn"]], base_url=USS2_URL), new_id())
    body = assert_error(r, 409)
    # A key entry only counts for the OVN it names: the first intent is known, the second is not.
    assert [m["id"] for m in body["missing_operational_intents"]] == [second["id"]]
    r = _put(client, signing_key, "uss2", oir_body(base_url=USS2_URL), new_id())
    body = assert_error(r, 409)
    assert {m["id"] for m in body["missing_operational_intents"]} == {first["id"], second["id"]}


def test_the_callers_own_intents_are_required_and_shown_with_their_ovn(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key, "uss1")
    body = assert_error(_put(client, signing_key, "uss1", oir_body(), new_id()), 409)
    (missing,) = body["missing_operational_intents"]
    assert (missing["id"], missing["ovn"]) == (first["id"], first["ovn"])


def test_a_key_holding_the_ovn_lets_a_conflicting_intent_in(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key, "uss1")
    _create(client, signing_key, "uss2", oir_body(key=[first["ovn"]], base_url=USS2_URL))


def test_a_key_with_the_masked_placeholder_proves_nothing(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    _create(client, signing_key, "uss1")
    r = _put(client, signing_key, "uss2", oir_body(key=[OVN_HIDDEN], base_url=USS2_URL), new_id())
    assert_error(r, 409)


def test_an_update_needs_the_ovns_of_intents_created_since(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    mine = _create(client, signing_key, "uss1")
    theirs = _create(client, signing_key, "uss2", oir_body(key=[mine["ovn"]], base_url=USS2_URL))
    r = _put(client, signing_key, "uss1", oir_body(), mine["id"], mine["ovn"])
    body = assert_error(r, 409)
    assert [m["id"] for m in body["missing_operational_intents"]] == [theirs["id"]]
    r = _put(client, signing_key, "uss1", oir_body(key=[theirs["ovn"]]), mine["id"], mine["ovn"])
    assert r.status_code == 200, r.text


def test_disjoint_intents_need_no_key(client: TestClient, signing_key: RSAPrivateKey) -> None:
    _create(client, signing_key, "uss1")
    # Each is disjoint from the first intent and from one another.
    later = volume4d(start=now() + timedelta(hours=2))
    higher = volume4d(alt=(300, 400))
    elsewhere = volume4d(*FAR_AWAY)
    for extent in (later, higher, elsewhere):
        _create(client, signing_key, "uss2", oir_body([extent], base_url=USS2_URL))


def test_nonconforming_intents_skip_the_key_check(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    _create(client, signing_key, "uss1")
    theirs = _create(
        client, signing_key, "uss2", oir_body([volume4d(*FAR_AWAY)], base_url=USS2_URL)
    )
    body = oir_body(state="Nonconforming", subscription_id=theirs["subscription_id"])
    r = _put(client, signing_key, "uss2", body, theirs["id"], theirs["ovn"], SC, CMSA)
    assert r.status_code == 200, r.text  # still no key, but now over uss1's intent


def _set_availability(
    client: TestClient, key: RSAPrivateKey, uss: str, availability: str
) -> dict[str, Any]:
    h = auth(key, "arbiter", AA)
    version = client.get(f"/dss/v1/uss_availability/{uss}", headers=h).json()["version"]
    r = client.put(
        f"/dss/v1/uss_availability/{uss}",
        json={"old_version": version, "availability": availability},
        headers=h,
    )
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()
    return status


def test_accepted_intents_of_a_down_uss_do_not_need_a_key(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key, "uss1")
    _set_availability(client, signing_key, "uss1", "Down")
    seen = _get(client, signing_key, "uss2", first["id"]).json()["operational_intent_reference"]
    assert seen["uss_availability"] == "Down"
    _create(client, signing_key, "uss2", oir_body(base_url=USS2_URL))


def test_activated_intents_of_a_down_uss_still_need_a_key(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key, "uss1")
    body = oir_body(state="Activated", subscription_id=first["subscription_id"])
    r = _put(client, signing_key, "uss1", body, first["id"], first["ovn"])
    assert r.status_code == 200, r.text
    _set_availability(client, signing_key, "uss1", "Down")
    r = _put(client, signing_key, "uss2", oir_body(base_url=USS2_URL), new_id())
    body = assert_error(r, 409)
    (missing,) = body["missing_operational_intents"]
    assert (missing["id"], missing["uss_availability"]) == (first["id"], "Down")


def test_a_uss_back_to_normal_needs_a_key_again(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    _create(client, signing_key, "uss1")
    _set_availability(client, signing_key, "uss1", "Down")
    _set_availability(client, signing_key, "uss1", "Normal")
    assert_error(_put(client, signing_key, "uss2", oir_body(base_url=USS2_URL), new_id()), 409)


# -- requested OVN suffix (InterUSS extension) --------------------------------------------------


def test_a_requested_ovn_suffix_makes_the_ovn(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    oid = new_id()
    suffix = uuid7()
    assert uuid.UUID(suffix).version == 7
    body = {**oir_body(), "requested_ovn_suffix": suffix}
    ref = _create(client, signing_key, body=body, oid=oid)
    assert ref["ovn"] == f"{oid}_{suffix}"
    assert len(ref["ovn"]) == 73

    suffix2 = uuid7()
    body = {**oir_body(), "requested_ovn_suffix": suffix2}
    r = _put(client, signing_key, "uss1", body, oid, ref["ovn"])
    assert r.status_code == 200, r.text
    assert r.json()["operational_intent_reference"]["ovn"] == f"{oid}_{suffix2}"

    # Without a suffix the DSS chooses again.
    r = _put(client, signing_key, "uss1", oir_body(), oid, f"{oid}_{suffix2}")
    assert r.status_code == 200, r.text
    assert not r.json()["operational_intent_reference"]["ovn"].startswith(oid)


def test_an_invalid_ovn_suffix_is_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    suffixes = {
        "not-uuid": "not-a-uuid",
        "empty": "",
        "uuid4": str(uuid.uuid4()),
        "oct-2024": uuid7(datetime.fromisoformat("2024-10-01T12:00:00+00:00")),
        "10-min-ahead": uuid7(now() + timedelta(minutes=10)),
    }
    for case, suffix in suffixes.items():
        oid = new_id()
        body = {**oir_body(), "requested_ovn_suffix": suffix}
        assert_error(_put(client, signing_key, "uss1", body, oid), 400, case)
        assert_error(_get(client, signing_key, "uss1", oid), 404, case)


def test_an_invalid_ovn_suffix_on_update_is_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    body = {**oir_body(), "requested_ovn_suffix": str(uuid.uuid4())}
    assert_error(_put(client, signing_key, "uss1", body, ref["id"], ref["ovn"]), 400)


# -- implicit subscriptions and subscribers ---------------------------------------------------


def test_an_implicit_subscription_follows_its_intent(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    sub_id = ref["subscription_id"]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", sub_id
    )
    assert sub_id != NULL_SUBSCRIPTION_ID
    r = client.get(f"{SUBS}/{sub_id}", headers=auth(signing_key, "uss1"))
    assert r.status_code == 200, r.text
    sub = r.json()["subscription"]
    assert sub["id"] == sub_id
    assert sub["implicit_subscription"] is True
    assert sub["dependent_operational_intents"] == [ref["id"]]
    assert sub["notify_for_operational_intents"] is True
    assert sub["notify_for_constraints"] is False
    assert sub["uss_base_url"] == USS1_URL
    for name in ("time_start", "time_end"):
        assert abs(wire_datetime(sub[name]) - wire_datetime(ref[name])) <= TIME_TOLERANCE

    r = client.delete(f"{OIRS}/{ref['id']}/{ref['ovn']}", headers=auth(signing_key, "uss1"))
    assert r.status_code == 200, r.text
    assert_error(client.get(f"{SUBS}/{sub_id}", headers=auth(signing_key, "uss1")), 404)


def test_an_intent_without_subscription_reports_the_null_subscription(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key, body=oir_body(implicit=False))
    assert ref["subscription_id"] == NULL_SUBSCRIPTION_ID
    r = client.get(f"{SUBS}/{NULL_SUBSCRIPTION_ID}", headers=auth(signing_key, "uss1"))
    assert_error(r, 404)


def test_a_fresh_implicit_subscription_replaces_the_old_one(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = _put(client, signing_key, "uss1", oir_body(), ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    new_sub = r.json()["operational_intent_reference"]["subscription_id"]
    assert new_sub != ref["subscription_id"]
    h = auth(signing_key, "uss1")
    assert_error(client.get(f"{SUBS}/{ref['subscription_id']}", headers=h), 404)
    assert client.get(f"{SUBS}/{new_sub}", headers=h).status_code == 200


def test_dropping_the_subscription_deletes_the_implicit_one(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = _put(client, signing_key, "uss1", oir_body(implicit=False), ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    assert r.json()["operational_intent_reference"]["subscription_id"] == NULL_SUBSCRIPTION_ID
    h = auth(signing_key, "uss1")
    assert_error(client.get(f"{SUBS}/{ref['subscription_id']}", headers=h), 404)


def test_attaching_the_implicit_subscription_to_a_longer_intent_grows_it(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    h = auth(signing_key, "uss1")
    before = client.get(f"{SUBS}/{ref['subscription_id']}", headers=h).json()["subscription"]
    longer = volume4d(duration=timedelta(hours=2))
    body = oir_body([longer], key=[ref["ovn"]], subscription_id=ref["subscription_id"])
    other = _create(client, signing_key, body=body)
    assert other["subscription_id"] == ref["subscription_id"]
    sub = client.get(f"{SUBS}/{ref['subscription_id']}", headers=h).json()["subscription"]
    assert abs(wire_datetime(sub["time_end"]) - wire_datetime(other["time_end"])) <= TIME_TOLERANCE
    assert sub["version"] != before["version"]  # growing is a change of the subscription
    assert sub["implicit_subscription"] is True
    assert sorted(sub["dependent_operational_intents"]) == sorted([ref["id"], other["id"]])


def test_an_explicit_subscription_must_cover_the_intent(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub_id = new_id()
    h = auth(signing_key, "uss1")
    sub_extent = volume4d(duration=timedelta(minutes=10))
    r = client.put(f"{SUBS}/{sub_id}", json=subscription_body(sub_extent), headers=h)
    assert r.status_code == 200, r.text
    inside = oir_body([volume4d(duration=timedelta(minutes=5))], subscription_id=sub_id)
    ref = _create(client, signing_key, body=inside)
    assert ref["subscription_id"] == sub_id
    too_long = oir_body(
        [volume4d(duration=timedelta(hours=1))], key=[ref["ovn"]], subscription_id=sub_id
    )
    assert_error(_put(client, signing_key, "uss1", too_long, new_id()), 400)
    elsewhere = oir_body([volume4d(*FAR_AWAY)], subscription_id=sub_id)
    assert_error(_put(client, signing_key, "uss1", elsewhere, new_id()), 400)


def test_another_managers_subscription_cannot_be_attached(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub_id = new_id()
    r = client.put(
        f"{SUBS}/{sub_id}",
        json=subscription_body(base_url=USS2_URL),
        headers=auth(signing_key, "uss2"),
    )
    assert r.status_code == 200, r.text
    assert_error(_put(client, signing_key, "uss1", oir_body(subscription_id=sub_id), new_id()), 403)


def test_intersecting_subscriptions_are_returned_as_subscribers_with_bumped_indices(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h2 = auth(signing_key, "uss2")
    watcher, far, constraints_only = new_id(), new_id(), new_id()
    for sub_id, body in (
        (watcher, subscription_body(base_url=USS2_URL)),
        (far, subscription_body(volume4d(*FAR_AWAY), base_url=USS2_URL)),
        (
            constraints_only,
            subscription_body(
                base_url=USS2_URL, for_operational_intents=False, for_constraints=True
            ),
        ),
    ):
        r = client.put(f"{SUBS}/{sub_id}", json=body, headers=h2)
        assert r.status_code == 200, r.text
        assert r.json()["subscription"]["notification_index"] == 0

    oid = new_id()
    r = _put(client, signing_key, "uss1", oir_body(base_url=USS1_URL), oid)
    assert r.status_code == 201, r.text
    body = r.json()
    ref = body["operational_intent_reference"]
    by_url = {g["uss_base_url"]: g for g in body["subscribers"]}
    assert set(by_url) == {USS1_URL, USS2_URL}
    # The caller's own new implicit subscription is included too.
    assert _subscribers(body) == {watcher: 1, ref["subscription_id"]: 1}
    r = client.get(f"{SUBS}/{ref['subscription_id']}", headers=auth(signing_key, "uss1"))
    assert r.json()["subscription"]["notification_index"] == 1  # as stored

    r = _put(client, signing_key, "uss1", oir_body(), oid, ref["ovn"])
    assert r.status_code == 200, r.text
    ref = r.json()["operational_intent_reference"]
    indices = _subscribers(r.json())
    assert indices[watcher] == 2

    r = client.delete(f"{OIRS}/{oid}/{ref['ovn']}", headers=auth(signing_key, "uss1"))
    assert r.status_code == 200, r.text
    assert _subscribers(r.json())[watcher] == 3
    # The deleted intent's implicit subscription is still told about the deletion.
    assert ref["subscription_id"] in _subscribers(r.json())

    r = client.get(f"{SUBS}/{watcher}", headers=h2)
    assert r.json()["subscription"]["notification_index"] == 3
    for untouched in (far, constraints_only):
        r = client.get(f"{SUBS}/{untouched}", headers=h2)
        assert r.json()["subscription"]["notification_index"] == 0


def test_an_update_notifies_subscribers_of_the_old_area_too(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    watcher = new_id()
    r = client.put(
        f"{SUBS}/{watcher}",
        json=subscription_body(base_url=USS2_URL),
        headers=auth(signing_key, "uss2"),
    )
    assert r.status_code == 200, r.text
    ref = _create(client, signing_key)
    moved = oir_body([volume4d(*FAR_AWAY)])
    r = _put(client, signing_key, "uss1", moved, ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    assert _subscribers(r.json())[watcher] == 2


# -- wire details: times, geometry, scopes --------------------------------------------------------


def test_times_with_an_offset_are_normalised_to_utc(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=2)
    extent = volume4d(start=start)
    kst = start.astimezone(timezone(timedelta(hours=9)))  # Korea Standard Time
    extent["time_start"]["value"] = kst.isoformat()
    ref = _create(client, signing_key, body=oir_body([extent]))
    assert ref["time_start"]["value"].endswith("Z")
    assert abs(wire_datetime(ref["time_start"]) - start) <= TIME_TOLERANCE


def test_rfc3339_variants_are_accepted(client: TestClient, signing_key: RSAPrivateKey) -> None:
    start = (now() + timedelta(hours=1)).replace(microsecond=0)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%S")
    variants = {
        "no fraction": f"{stamp}Z",
        "nanoseconds": f"{stamp}.123456789Z",
        "lower case": f"{stamp}z".replace("T", "t"),
        "offset": start.astimezone(timezone(timedelta(hours=-5))).isoformat(),
    }
    for i, (case, value) in enumerate(variants.items()):
        # One altitude band per variant, so that they need no key for one another.
        extent = volume4d(start=start, alt=(1000 + 20 * i, 1010 + 20 * i))
        extent["time_start"]["value"] = value
        r = _put(client, signing_key, "uss1", oir_body([extent]), new_id())
        assert r.status_code == 201, f"{case}: {r.text}"
        got = wire_datetime(r.json()["operational_intent_reference"]["time_start"])
        assert abs(got - start) <= TIME_TOLERANCE, case


def test_times_that_are_not_rfc3339_are_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(hours=1)
    ymd, hms = start.strftime("%Y-%m-%d"), start.strftime("%H:%M:%S")
    iso_year, iso_week, iso_day = start.isocalendar()
    not_rfc3339 = {
        "space separator": f"{ymd} {hms}Z",
        "basic format": start.strftime("%Y%m%dT%H%M%SZ"),
        "no seconds": f"{ymd}T{start.strftime('%H:%M')}Z",
        "week date": f"{iso_year}-W{iso_week:02d}-{iso_day}T{hms}Z",
        "offset without colon": f"{ymd}T{hms}+0000",
        "comma fraction": f"{ymd}T{hms},5Z",
        "no time zone": f"{ymd}T{hms}",
    }
    accepted = []
    for i, (case, value) in enumerate(not_rfc3339.items()):
        extent = volume4d(start=start, alt=(1000 + 20 * i, 1010 + 20 * i))
        extent["time_start"]["value"] = value
        r = _put(client, signing_key, "uss1", oir_body([extent], implicit=False), new_id())
        if r.status_code != 400:
            accepted.append(f"{case} ({value}): {r.status_code}")
    assert not accepted, accepted


def _polygon(*points: tuple[float, float]) -> dict[str, Any]:
    return {"vertices": [{"lat": lat, "lng": lng} for lat, lng in points]}


def test_invalid_geometry_is_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    lat, lng = HUMPHREYS
    circle = {"center": {"lat": lat, "lng": lng}, "radius": {"value": 100, "units": "M"}}
    cases: dict[str, dict[str, Any]] = {
        "circle and polygon": {"outline_circle": circle, "outline_polygon": _polygon()},
        "two vertices": {"outline_polygon": _polygon((lat, lng), (lat + 0.01, lng))},
        "latitude above 90": {
            "outline_polygon": _polygon((91, lng), (lat, lng + 0.01), (lat + 0.01, lng))
        },
        "longitude beyond 180": {
            "outline_polygon": _polygon((lat, 181), (lat, lng + 0.01), (lat + 0.01, lng))
        },
        "bow tie": {
            "outline_polygon": _polygon(
                (lat, lng), (lat + 0.01, lng + 0.01), (lat, lng + 0.01), (lat + 0.01, lng)
            )
        },
        "negative radius": {"outline_circle": {**circle, "radius": {"value": -5, "units": "M"}}},
        "radius in feet": {"outline_circle": {**circle, "radius": {"value": 5, "units": "FT"}}},
        "over 2500 km2": {"outline_polygon": volume4d(half_deg=0.5)["volume"]["outline_polygon"]},
    }
    for case, outline in cases.items():
        extent = volume4d()
        del extent["volume"]["outline_polygon"]
        extent["volume"].update(outline)
        oid = new_id()
        assert_error(_put(client, signing_key, "uss1", oir_body([extent]), oid), 400, case)
        assert_error(_get(client, signing_key, "uss1", oid), 404, case)


def test_altitudes_must_be_metres_above_wgs84(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    cases = {
        "feet": {"units": "FT"},
        "above ground": {"reference": "SFC"},
        "not a number": {"value": "high"},
    }
    for case, change in cases.items():
        extent = volume4d()
        extent["volume"]["altitude_lower"].update(change)
        assert_error(_put(client, signing_key, "uss1", oir_body([extent]), new_id()), 400, case)


def test_an_oversized_area_query_is_a_bad_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    aoi = {"area_of_interest": volume4d(half_deg=0.5)}
    r = client.post(f"{OIRS}/query", json=aoi, headers=auth(signing_key, "uss1"))
    assert_error(r, 400)


def test_conformance_monitoring_scope_alone_may_plan_and_query(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    oid = new_id()
    r = _put(client, signing_key, "uss1", oir_body(), oid, None, CMSA)
    assert r.status_code == 201, r.text
    r = client.get(f"{OIRS}/{oid}", headers=auth(signing_key, "uss1", CMSA))
    assert r.status_code == 200, r.text
    r = client.post(
        f"{OIRS}/query",
        json={"area_of_interest": volume4d()},
        headers=auth(signing_key, "uss1", CMSA),
    )
    assert r.status_code == 200, r.text


def test_an_empty_subscription_id_means_none(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    body = {**oir_body(implicit=False), "subscription_id": ""}
    ref = _create(client, signing_key, body=body)
    assert ref["subscription_id"] == NULL_SUBSCRIPTION_ID
    both = {**oir_body([volume4d(*FAR_AWAY)]), "subscription_id": ""}
    assert_error(_put(client, signing_key, "uss1", both, new_id()), 400)


# -- implicit subscriptions shared and switched ------------------------------------------------


def test_an_implicit_subscription_outlives_one_of_two_dependent_intents(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    first = _create(client, signing_key)
    body = oir_body(key=[first["ovn"]], subscription_id=first["subscription_id"])
    second = _create(client, signing_key, body=body)
    h = auth(signing_key, "uss1")
    r = client.delete(f"{OIRS}/{first['id']}/{first['ovn']}", headers=h)
    assert r.status_code == 200, r.text
    r = client.get(f"{SUBS}/{first['subscription_id']}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["subscription"]["dependent_operational_intents"] == [second["id"]]


def test_switching_to_an_explicit_subscription_deletes_the_implicit_one(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    h = auth(signing_key, "uss1")
    explicit = new_id()
    sub_body = subscription_body(volume4d(start=now(), duration=timedelta(hours=1)))
    assert client.put(f"{SUBS}/{explicit}", json=sub_body, headers=h).status_code == 200
    body = oir_body(subscription_id=explicit)
    r = _put(client, signing_key, "uss1", body, ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    assert r.json()["operational_intent_reference"]["subscription_id"] == explicit
    # The old implicit subscription is gone, and nobody is told about it.
    assert ref["subscription_id"] not in _subscribers(r.json())
    assert _subscribers(r.json())[explicit] == 1
    assert_error(client.get(f"{SUBS}/{ref['subscription_id']}", headers=h), 404)
    got = client.get(f"{SUBS}/{explicit}", headers=h).json()["subscription"]
    assert got["dependent_operational_intents"] == [ref["id"]]


def test_a_replaced_implicit_subscription_is_not_notified(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    ref = _create(client, signing_key)
    r = _put(client, signing_key, "uss1", oir_body(), ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    new_sub = r.json()["operational_intent_reference"]["subscription_id"]
    assert _subscribers(r.json()) == {new_sub: 1}


def test_a_subscription_over_both_old_and_new_areas_is_notified_once(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    watcher = new_id()
    wide = subscription_body(
        volume4d(half_deg=0.05, duration=timedelta(hours=2)), base_url=USS2_URL
    )
    r = client.put(f"{SUBS}/{watcher}", json=wide, headers=auth(signing_key, "uss2"))
    assert r.status_code == 200, r.text
    ref = _create(client, signing_key)
    moved = oir_body([volume4d(HUMPHREYS[0] + 0.03, HUMPHREYS[1])])
    r = _put(client, signing_key, "uss1", moved, ref["id"], ref["ovn"])
    assert r.status_code == 200, r.text
    assert _subscribers(r.json())[watcher] == 2


def test_every_reference_shows_its_managers_availability(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    mine = _create(client, signing_key, "uss1")
    theirs = _create(
        client, signing_key, "uss2", oir_body([volume4d(alt=(300, 400))], base_url=USS2_URL)
    )
    _set_availability(client, signing_key, "uss1", "Down")
    _set_availability(client, signing_key, "uss2", "Normal")
    expected = {mine["id"]: "Down", theirs["id"]: "Normal"}

    got = _get(client, signing_key, "uss2", mine["id"]).json()["operational_intent_reference"]
    assert got["uss_availability"] == "Down", "GET"
    found = _query(client, signing_key, "uss2", volume4d(alt=(0, 500)))
    assert {x["id"]: x["uss_availability"] for x in found} == expected, "query"
    r = client.put(
        f"{SUBS}/{new_id()}", json=subscription_body(), headers=auth(signing_key, "uss2")
    )
    listed = r.json()["operational_intent_references"]
    assert {x["id"]: x["uss_availability"] for x in listed} == expected, "subscription PUT"

    # A Down USS may still update its own intent (InterUSS ignores the caller's availability).
    r = _put(client, signing_key, "uss1", oir_body(), mine["id"], mine["ovn"])
    assert r.status_code == 200, r.text
    updated = r.json()["operational_intent_reference"]
    assert updated["uss_availability"] == "Down", "PUT response"
    # uss2's Normal intent conflicts with a new one by uss3.
    body = assert_error(
        _put(client, signing_key, "uss3", oir_body([volume4d(alt=(300, 400))]), new_id()), 409
    )
    (missing,) = body["missing_operational_intents"]
    assert (missing["id"], missing["uss_availability"]) == (theirs["id"], "Normal"), "409"
    r = client.delete(f"{OIRS}/{mine['id']}/{updated['ovn']}", headers=auth(signing_key, "uss1"))
    assert r.status_code == 200, r.text
    assert r.json()["operational_intent_reference"]["uss_availability"] == "Down", "DELETE"
