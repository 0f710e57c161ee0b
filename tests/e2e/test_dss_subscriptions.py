"""Subscriptions over HTTP: ``/dss/v1/subscriptions``, on both stores."""

from __future__ import annotations

import time
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
    new_id,
    now,
    oir_body,
    subscription_body,
    volume4d,
    wire_datetime,
    wire_time,
)

SUBS = "/dss/v1/subscriptions"
OIRS = "/dss/v1/operational_intent_references"
USS1_URL = "https://uss1.example/utm"
FAR_AWAY = (HUMPHREYS[0] + 1.0, HUMPHREYS[1])
TIME_TOLERANCE = timedelta(seconds=1)
MAX_DURATION = timedelta(hours=24)  # F3548-21 DSSMaxSubscriptionDurationHours


def _put(
    client: TestClient,
    key: RSAPrivateKey,
    manager: str,
    body: dict[str, Any],
    sub_id: str,
    version: str | None = None,
) -> Response:
    path = f"{SUBS}/{sub_id}" if version is None else f"{SUBS}/{sub_id}/{version}"
    return client.put(path, json=body, headers=auth(key, manager))


def _create(
    client: TestClient,
    key: RSAPrivateKey,
    manager: str = "uss1",
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r = _put(client, key, manager, body or subscription_body(), new_id())
    assert r.status_code == 200, r.text
    sub: dict[str, Any] = r.json()["subscription"]
    return sub


def _covering() -> dict[str, Any]:
    """A subscription that covers intents built with ``volume4d()`` defaults."""
    return subscription_body(volume4d(start=now(), duration=timedelta(hours=1)))


def _get(client: TestClient, key: RSAPrivateKey, manager: str, sub_id: str) -> Response:
    return client.get(f"{SUBS}/{sub_id}", headers=auth(key, manager))


def _query(client: TestClient, key: RSAPrivateKey, manager: str, aoi: dict[str, Any]) -> list[str]:
    r = client.post(f"{SUBS}/query", json={"area_of_interest": aoi}, headers=auth(key, manager))
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["subscriptions"]]


# -- lifecycle ----------------------------------------------------------------------------------


def test_created_subscription_echoes_the_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    start = now() + timedelta(minutes=1)
    sub_id = new_id()
    body = subscription_body(
        volume4d(start=start, duration=timedelta(hours=2)), for_constraints=True
    )
    r = _put(client, signing_key, "uss1", body, sub_id)
    assert r.status_code == 200, r.text
    sub = r.json()["subscription"]
    assert sub["id"] == sub_id
    assert isinstance(sub["version"], str)
    assert sub["version"]
    assert sub["notification_index"] == 0
    assert sub["uss_base_url"] == USS1_URL
    assert sub["notify_for_operational_intents"] is True
    assert sub["notify_for_constraints"] is True
    assert sub["implicit_subscription"] is False
    assert sub["dependent_operational_intents"] == []
    for name, sent in (("time_start", start), ("time_end", start + timedelta(hours=2))):
        assert sub[name]["value"].endswith("Z")
        assert abs(wire_datetime(sub[name]) - sent) <= TIME_TOLERANCE
    got = _get(client, signing_key, "uss1", sub_id)
    assert got.status_code == 200, got.text
    assert got.json()["subscription"] == sub


def test_omitted_times_default_to_now_and_a_day_later(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    extent = volume4d()
    del extent["time_start"], extent["time_end"]
    sub = _create(client, signing_key, body=subscription_body(extent))
    start = wire_datetime(sub["time_start"])
    assert abs(start - now()) <= timedelta(seconds=10)
    assert abs(wire_datetime(sub["time_end"]) - (start + MAX_DURATION)) <= TIME_TOLERANCE


def test_a_window_of_exactly_24_hours_is_accepted(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    extent = volume4d(start=now() - timedelta(minutes=1), duration=MAX_DURATION)
    _create(client, signing_key, body=subscription_body(extent))


def test_update_by_version_changes_the_version_and_keeps_the_index(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key)
    # Bump the notification index with an intent in the area.
    r = client.put(
        f"{OIRS}/{new_id()}", json=oir_body(implicit=False), headers=auth(signing_key, "uss2")
    )
    assert r.status_code == 201, r.text
    body = subscription_body(
        volume4d(duration=timedelta(hours=3)), for_operational_intents=False, for_constraints=True
    )
    r = _put(client, signing_key, "uss1", body, sub["id"], sub["version"])
    assert r.status_code == 200, r.text
    updated = r.json()["subscription"]
    assert updated["version"] != sub["version"]
    assert updated["notification_index"] == 1
    assert updated["notify_for_operational_intents"] is False
    assert updated["notify_for_constraints"] is True
    got = _get(client, signing_key, "uss1", sub["id"]).json()["subscription"]
    assert got["version"] == updated["version"]


def test_notifications_do_not_change_the_version(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key)
    r = client.put(
        f"{OIRS}/{new_id()}", json=oir_body(implicit=False), headers=auth(signing_key, "uss2")
    )
    assert r.status_code == 201, r.text
    got = _get(client, signing_key, "uss1", sub["id"]).json()["subscription"]
    assert (got["version"], got["notification_index"]) == (sub["version"], 1)


def test_delete_returns_the_subscription_and_removes_it(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key)
    r = client.delete(f"{SUBS}/{sub['id']}/{sub['version']}", headers=auth(signing_key, "uss1"))
    assert r.status_code == 200, r.text
    assert r.json()["subscription"]["id"] == sub["id"]
    assert r.json()["subscription"]["version"] == sub["version"]
    assert_error(_get(client, signing_key, "uss1", sub["id"]), 404)
    assert _query(client, signing_key, "uss1", volume4d()) == []


def test_query_returns_only_the_callers_live_subscriptions_in_the_area(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    mine = _create(client, signing_key, "uss1")
    _create(client, signing_key, "uss2")
    _create(client, signing_key, "uss1", subscription_body(volume4d(*FAR_AWAY)))
    assert _query(client, signing_key, "uss1", volume4d()) == [mine["id"]]
    later = volume4d(start=now() + timedelta(days=2))
    assert _query(client, signing_key, "uss1", later) == []


def test_query_leaves_out_expired_subscriptions(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    extent = volume4d(start=now(), duration=timedelta(seconds=1))
    sub = _create(client, signing_key, body=subscription_body(extent))
    time.sleep(max(0.0, (wire_datetime(sub["time_end"]) - now()).total_seconds()) + 0.2)
    aoi = volume4d()
    del aoi["time_start"], aoi["time_end"]
    assert _query(client, signing_key, "uss1", aoi) == []
    assert _get(client, signing_key, "uss1", sub["id"]).status_code == 200


def test_query_refusals(client: TestClient, signing_key: RSAPrivateKey) -> None:
    h = auth(signing_key, "uss1")
    assert_error(client.post(f"{SUBS}/query", json={}, headers=h), 400, "no area")
    huge = {"area_of_interest": volume4d(half_deg=0.5)}  # ~10 000 km² > 2500 km²
    assert_error(client.post(f"{SUBS}/query", json=huge, headers=h), 413, "huge area")


def test_the_response_lists_intersecting_operational_intents(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h1, h2 = auth(signing_key, "uss1"), auth(signing_key, "uss2")
    r = client.put(f"{OIRS}/{new_id()}", json=oir_body(), headers=h2)
    assert r.status_code == 201, r.text
    theirs_ref = r.json()["operational_intent_reference"]
    body = oir_body(key=[theirs_ref["ovn"]], implicit=False)
    r = client.put(f"{OIRS}/{new_id()}", json=body, headers=h1)
    assert r.status_code == 201, r.text
    mine = r.json()["operational_intent_reference"]
    r = client.put(f"{OIRS}/{new_id()}", json=oir_body([volume4d(*FAR_AWAY)]), headers=h2)
    assert r.status_code == 201, r.text

    r = _put(client, signing_key, "uss1", subscription_body(), new_id())
    assert r.status_code == 200, r.text
    seen = {o["id"]: o["ovn"] for o in r.json()["operational_intent_references"]}
    assert seen == {theirs_ref["id"]: OVN_HIDDEN, mine["id"]: mine["ovn"]}

    r = _put(
        client,
        signing_key,
        "uss1",
        subscription_body(for_operational_intents=False, for_constraints=True),
        new_id(),
    )
    assert r.status_code == 200, r.text
    assert "operational_intent_references" not in r.json()
    assert r.json()["constraint_references"] == []


def test_an_explicitly_updated_implicit_subscription_becomes_explicit(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    r = client.put(f"{OIRS}/{new_id()}", json=oir_body(), headers=auth(signing_key, "uss1"))
    sub_id = r.json()["operational_intent_reference"]["subscription_id"]
    sub = _get(client, signing_key, "uss1", sub_id).json()["subscription"]
    assert sub["implicit_subscription"] is True
    body = subscription_body(volume4d(start=now(), duration=timedelta(hours=1)))
    r = _put(client, signing_key, "uss1", body, sub_id, sub["version"])
    assert r.status_code == 200, r.text
    assert r.json()["subscription"]["implicit_subscription"] is False


# -- failures ---------------------------------------------------------------------------------


def test_malformed_and_unknown_ids(client: TestClient, signing_key: RSAPrivateKey) -> None:
    h = auth(signing_key, "uss1")
    for bad in ("not-a-uuid", "2f8343be-6482-1d1b-a474-16847e01af1e"):
        assert_error(client.get(f"{SUBS}/{bad}", headers=h), 400, bad)
        assert_error(client.put(f"{SUBS}/{bad}", json=subscription_body(), headers=h), 400, bad)
        assert_error(client.delete(f"{SUBS}/{bad}/{'v' * 44}", headers=h), 400, bad)
    assert_error(client.get(f"{SUBS}/{new_id()}", headers=h), 404)
    assert_error(client.delete(f"{SUBS}/{new_id()}/{'v' * 44}", headers=h), 404)


def test_version_conflicts(client: TestClient, signing_key: RSAPrivateKey) -> None:
    sub = _create(client, signing_key)
    h = auth(signing_key, "uss1")
    cases = {
        "wrong-version-update": _put(
            client, signing_key, "uss1", subscription_body(), sub["id"], "v" * 44
        ),
        "create-on-existing": _put(client, signing_key, "uss1", subscription_body(), sub["id"]),
        "empty-version-update": client.put(
            f"{SUBS}/{sub['id']}/", json=subscription_body(), headers=h
        ),
        "wrong-version-delete": client.delete(f"{SUBS}/{sub['id']}/{'v' * 44}", headers=h),
    }
    for case, r in cases.items():
        assert_error(r, 409, case)
    assert _get(client, signing_key, "uss1", sub["id"]).json()["subscription"] == sub


def test_update_of_a_nonexistent_subscription_is_a_bad_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub_id = new_id()
    assert_error(_put(client, signing_key, "uss1", subscription_body(), sub_id, "v" * 44), 400)
    assert_error(_get(client, signing_key, "uss1", sub_id), 404)


def test_delete_with_an_empty_version_is_a_bad_request(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key)
    assert_error(client.delete(f"{SUBS}/{sub['id']}/", headers=auth(signing_key, "uss1")), 400)
    assert _get(client, signing_key, "uss1", sub["id"]).status_code == 200


def test_another_manager_may_not_get_update_or_delete(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key)
    h2 = auth(signing_key, "uss2")
    assert_error(client.get(f"{SUBS}/{sub['id']}", headers=h2), 403, "get")
    r = _put(client, signing_key, "uss2", subscription_body(), sub["id"], sub["version"])
    assert_error(r, 403, "update")
    r = client.delete(f"{SUBS}/{sub['id']}/{sub['version']}", headers=h2)
    assert_error(r, 403, "delete")
    assert _get(client, signing_key, "uss1", sub["id"]).json()["subscription"] == sub


def test_a_subscription_with_dependent_intents_cannot_be_deleted(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key, body=_covering())
    h = auth(signing_key, "uss1")
    r = client.put(f"{OIRS}/{new_id()}", json=oir_body(subscription_id=sub["id"]), headers=h)
    assert r.status_code == 201, r.text
    oid = r.json()["operational_intent_reference"]["id"]
    got = _get(client, signing_key, "uss1", sub["id"]).json()["subscription"]
    assert got["dependent_operational_intents"] == [oid]
    assert_error(client.delete(f"{SUBS}/{sub['id']}/{sub['version']}", headers=h), 400)
    assert _get(client, signing_key, "uss1", sub["id"]).status_code == 200


def test_an_implicit_subscription_cannot_be_deleted_while_its_intent_lives(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = auth(signing_key, "uss1")
    r = client.put(f"{OIRS}/{new_id()}", json=oir_body(), headers=h)
    sub_id = r.json()["operational_intent_reference"]["subscription_id"]
    version = _get(client, signing_key, "uss1", sub_id).json()["subscription"]["version"]
    assert_error(client.delete(f"{SUBS}/{sub_id}/{version}", headers=h), 400)


def test_an_update_must_keep_covering_dependent_intents(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key, body=_covering())
    r = client.put(
        f"{OIRS}/{new_id()}",
        json=oir_body(subscription_id=sub["id"]),
        headers=auth(signing_key, "uss1"),
    )
    assert r.status_code == 201, r.text
    moved = subscription_body(volume4d(*FAR_AWAY))
    assert_error(_put(client, signing_key, "uss1", moved, sub["id"], sub["version"]), 400)


def test_invalid_subscriptions_are_refused(client: TestClient, signing_key: RSAPrivateKey) -> None:
    cases = {
        "no-notification-flags": subscription_body(
            for_operational_intents=False, for_constraints=False
        ),
        "window-over-24h": subscription_body(
            volume4d(duration=MAX_DURATION + timedelta(minutes=10))
        ),
        "start-10-min-ago": subscription_body(
            volume4d(start=now() - timedelta(minutes=10), duration=timedelta(hours=1))
        ),
        "end-before-start": subscription_body(volume4d(duration=timedelta(minutes=-10))),
        "no-extents": {**subscription_body(), "extents": None},
    }
    for case, body in cases.items():
        sub_id = new_id()
        assert_error(_put(client, signing_key, "uss1", body, sub_id), 400, case)
        assert_error(_get(client, signing_key, "uss1", sub_id), 404, case)


def test_an_update_may_not_stretch_the_window_past_24_hours(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    sub = _create(client, signing_key)
    extent = volume4d()
    extent["time_end"] = wire_time(
        wire_datetime(sub["time_start"]) + MAX_DURATION + timedelta(hours=1)
    )
    assert_error(
        _put(client, signing_key, "uss1", subscription_body(extent), sub["id"], sub["version"]),
        400,
    )


def test_subscriptions_need_a_coordination_or_processing_scope(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    for scope in (SC, CP):
        r = client.put(
            f"{SUBS}/{new_id()}",
            json=subscription_body(),
            headers=auth(signing_key, "uss1", scope),
        )
        assert r.status_code == 200, f"{scope}: {r.text}"
    r = client.put(
        f"{SUBS}/{new_id()}", json=subscription_body(), headers=auth(signing_key, "uss1", CM)
    )
    assert_error(r, 403)
