"""The trust layer over HTTP: partners' tokens, their audit entries, the partners' view,
rate limits and the security headers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.trust.roles import Role, role_scope
from tests.helpers import SC, oir_body, partner_auth, volume4d, write_partners_file

ROK, US = "rok-army", "us-army"
ADMIN = role_scope(Role.PARTNER_ADMIN)
PLANNER = role_scope(Role.PLANNER)


def make_node(
    folder: Path, keys: dict[str, RSAPrivateKey], db_url: str | None = None, **settings: object
) -> TestClient:
    config = Settings(
        db_url=db_url or f"sqlite:///{folder / 'node.sqlite3'}",
        partners_file=write_partners_file(
            folder, keys, releasability='[releasability]\naircraft = "all_partners"'
        ),
        auth_audiences=["localhost"],
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(create_app(config), base_url="http://localhost")


@pytest.fixture
def node(keys: dict[str, RSAPrivateKey], tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    """A two-partner node on each store (releasability holds on both)."""
    with make_node(tmp_path, keys, db_url) as client:
        yield client


def as_(keys: dict[str, RSAPrivateKey], partner: str, sub: str, *scopes: str) -> dict[str, str]:
    return partner_auth(keys[partner], partner, sub, *scopes)


def create_intent(node: TestClient, headers: dict[str, str], lat: float) -> str:
    entity_id = str(uuid.uuid4())
    r = node.put(
        f"/dss/v1/operational_intent_references/{entity_id}",
        json=oir_body([volume4d(lat=lat)]),
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return entity_id


def test_a_planner_role_alone_may_plan_and_its_change_is_audited_for_its_partner(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    entity_id = create_intent(node, as_(keys, ROK, "planner-kim", PLANNER), 36.96)
    r = node.get("/api/v1/audit/entries", headers=as_(keys, ROK, "admin-park", ADMIN))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    (entry,) = [orjson.loads(line) for line in r.text.splitlines()]
    assert entry["partner"] == ROK
    assert entry["actor"] == "planner-kim"
    assert entry["action"] == "dss.operational_intent.create"
    assert entry["target_id"] == entity_id
    assert entry["before_digest"] is None
    assert len(entry["after_digest"]) == 64


def test_an_observer_may_not_plan(node: TestClient, keys: dict[str, RSAPrivateKey]) -> None:
    observer = as_(keys, US, "lt-smith", role_scope(Role.OBSERVER))
    r = node.put(
        f"/dss/v1/operational_intent_references/{uuid.uuid4()}", json=oir_body(), headers=observer
    )
    assert r.status_code == 403
    assert "utm.strategic_coordination" in r.json()["message"]


def test_each_partner_sees_only_its_own_audit_entries_and_others_are_not_found(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    create_intent(node, as_(keys, ROK, "rok-uss", SC), 36.90)
    create_intent(node, as_(keys, US, "us-uss", SC), 37.10)
    rok_admin, us_admin = as_(keys, ROK, "a", ADMIN), as_(keys, US, "b", ADMIN)
    rok_lines = node.get("/api/v1/audit/entries", headers=rok_admin).text.splitlines()
    us_lines = node.get("/api/v1/audit/entries", headers=us_admin).text.splitlines()
    assert [orjson.loads(x)["seq"] for x in rok_lines] == [1]
    assert [orjson.loads(x)["seq"] for x in us_lines] == [2]
    assert node.get("/api/v1/audit/entries/1", headers=rok_admin).status_code == 200
    hidden = node.get("/api/v1/audit/entries/1", headers=us_admin)
    missing = node.get("/api/v1/audit/entries/99", headers=us_admin)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.headers["content-type"] == "application/problem+json"
    assert hidden.json()["detail"].replace("1", "N") == missing.json()["detail"].replace("99", "N")
    head = node.get("/api/v1/audit/head", headers=us_admin).json()
    assert head["seq"] == 2
    assert len(head["hash"]) == 64


def test_the_partners_view_says_who_sees_a_record_and_which_fields(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    admin = as_(keys, US, "b", ADMIN)
    partners = node.get("/api/v1/partners", headers=admin).json()["partners"]
    assert [p["id"] for p in partners] == [ROK, US]
    flight = node.get(
        "/api/v1/partners/visibility", params={"kind": "flight", "owner": ROK}, headers=admin
    ).json()
    assert flight["partners"][ROK] == {"sees_record": True, "hidden_fields": []}
    assert flight["partners"][US]["sees_record"] is True
    assert "mission" in flight["partners"][US]["hidden_fields"]
    named = node.get(
        "/api/v1/partners/visibility",
        params={"kind": "flight", "owner": ROK, "released_to": US},
        headers=admin,
    ).json()
    assert named["partners"][US]["hidden_fields"] == ["notes"]
    log = node.get(
        "/api/v1/partners/visibility", params={"kind": "flight_log", "owner": ROK}, headers=admin
    ).json()
    assert log["partners"][US]["sees_record"] is False
    assigned = node.get(
        "/api/v1/partners/visibility",
        params={"kind": "flight_log", "owner": ROK, "assigned_to": US},
        headers=admin,
    ).json()
    assert assigned["partners"][US]["sees_record"] is True
    # The partners file's [releasability] table overrides the default (aircraft: named).
    aircraft = node.get(
        "/api/v1/partners/visibility", params={"kind": "aircraft", "owner": ROK}, headers=admin
    ).json()
    assert aircraft["rule"] == "all_partners"
    bad = node.get(
        "/api/v1/partners/visibility", params={"kind": "gossip", "owner": ROK}, headers=admin
    )
    assert bad.status_code == 400
    assert "kind must be one of" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("signer", "issuer_of", "message"),
    [
        (US, ROK, "signature does not match"),  # a partner forging another's issuer
        (ROK, "nato-hq", "not any partner's"),
    ],
)
def test_tokens_are_refused_with_a_clear_reason(
    node: TestClient, keys: dict[str, RSAPrivateKey], signer: str, issuer_of: str, message: str
) -> None:
    from dronecoop.auth.devkeys import mint_token
    from tests.helpers import partner_issuer

    token = mint_token(
        keys[signer], sub="x", scopes=[SC], audience="localhost", issuer=partner_issuer(issuer_of)
    )
    r = node.post(
        "/dss/v1/operational_intent_references/query",
        json={"area_of_interest": volume4d()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 401
    assert message in r.json()["message"]


def test_a_caller_over_its_rate_is_told_to_retry_later(
    keys: dict[str, RSAPrivateKey], tmp_path: Path
) -> None:
    with make_node(tmp_path, keys, rate_limit_per_s=1.0, rate_limit_burst=3) as node:
        headers = as_(keys, ROK, "busy", ADMIN)
        statuses = [node.get("/api/v1/partners", headers=headers).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        assert statuses[3:] == [429, 429]
        r = node.get("/api/v1/partners", headers=headers)
        assert r.headers["retry-after"] == "1"
        assert r.json()["title"] == "Too many requests"
        # Another caller has its own budget.
        assert node.get("/api/v1/partners", headers=as_(keys, US, "calm", ADMIN)).status_code == 200


def test_responses_carry_security_headers_and_no_cors_by_default(node: TestClient) -> None:
    r = node.get("/healthz", headers={"Origin": "https://evil.example"})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_only_the_configured_origins(
    keys: dict[str, RSAPrivateKey], tmp_path: Path
) -> None:
    with make_node(tmp_path, keys, cors_allow_origins=["https://cop.rok.example"]) as node:
        ok = node.get("/healthz", headers={"Origin": "https://cop.rok.example"})
        other = node.get("/healthz", headers={"Origin": "https://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "https://cop.rok.example"
    assert "access-control-allow-origin" not in other.headers


def test_tokens_never_reach_the_log(
    node: TestClient, keys: dict[str, RSAPrivateKey], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = as_(keys, ROK, "rok-uss", SC)
    create_intent(node, good, 36.95)
    forged = good["Authorization"][:-8] + "AAAAAAAA"
    node.get(
        f"/dss/v1/operational_intent_references/{uuid.uuid4()}", headers={"Authorization": forged}
    )
    token = good["Authorization"].removeprefix("Bearer ")
    assert token[:40] not in caplog.text
    assert forged[-40:] not in caplog.text


def test_a_partner_admin_rotates_its_token_key_without_restarting_the_node(
    node: TestClient, keys: dict[str, RSAPrivateKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization

    from dronecoop.auth import tokens
    from dronecoop.auth.devkeys import mint_token
    from tests.helpers import partner_issuer

    monkeypatch.setattr(tokens, "REGISTERED_KEYS_TTL_S", 0.0)  # see a retirement at once
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = new_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    admin = as_(keys, ROK, "admin-park", ADMIN)

    def query_with(key: RSAPrivateKey, kid: str) -> int:
        token = mint_token(
            key,
            sub="rok-uss",
            scopes=[SC],
            audience="localhost",
            issuer=partner_issuer(ROK),
            kid=kid,
        )
        return node.post(
            "/dss/v1/operational_intent_references/query",
            json={"area_of_interest": volume4d()},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code

    assert query_with(new_key, "rok-2026-11") == 401  # not trusted yet
    added = node.post(
        f"/api/v1/partners/{ROK}/keys",
        json={"kid": "rok-2026-11", "public_key_pem": pem.decode()},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    assert query_with(new_key, "rok-2026-11") == 200
    assert query_with(keys[ROK], "rok-2026-11") == 401  # the kid names one key only
    again = node.post(
        f"/api/v1/partners/{ROK}/keys",
        json={"kid": "rok-2026-11", "public_key_pem": pem.decode()},
        headers=admin,
    )
    assert again.status_code == 409
    # Another partner can neither see nor touch these keys.
    us_admin = as_(keys, US, "admin-b", ADMIN)
    assert node.get(f"/api/v1/partners/{ROK}/keys", headers=us_admin).status_code == 404
    assert (
        node.delete(f"/api/v1/partners/{ROK}/keys/rok-2026-11", headers=us_admin).status_code == 404
    )
    listed = node.get(f"/api/v1/partners/{ROK}/keys", headers=admin).json()["keys"]
    assert [(k["kid"], k["added_by"], k["retired_at"]) for k in listed] == [
        ("rok-2026-11", "admin-park", None)
    ]
    assert node.delete(f"/api/v1/partners/{ROK}/keys/rok-2026-11", headers=admin).status_code == 204
    assert query_with(new_key, "rok-2026-11") == 401
    assert node.delete(f"/api/v1/partners/{ROK}/keys/rok-2026-11", headers=admin).status_code == 404
    actions = [
        orjson.loads(line)["action"]
        for line in node.get("/api/v1/audit/entries", headers=admin).text.splitlines()
    ]
    assert actions == ["partners.key.add", "partners.key.retire"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kid": "k"}, "public_key_pem"),
        ({"kid": "bad kid!", "public_key_pem": "-----BEGIN PUBLIC KEY-----"}, "kid must be"),
        (
            {"kid": "k", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nxx\n"},
            "not a usable RSA key",
        ),
        ([1, 2], "kid must be"),
    ],
)
def test_a_bad_key_registration_is_refused_with_the_reason(
    node: TestClient, keys: dict[str, RSAPrivateKey], body: object, message: str
) -> None:
    r = node.post(f"/api/v1/partners/{ROK}/keys", json=body, headers=as_(keys, ROK, "a", ADMIN))
    assert r.status_code == 400
    assert message in r.json()["detail"]


def test_the_partners_view_of_a_given_record_names_its_owner(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    entity_id = create_intent(node, as_(keys, ROK, "rok-uss", SC), 36.97)
    admin = as_(keys, US, "admin-b", ADMIN)
    r = node.get(
        f"/api/v1/partners/visibility/operational_intent_reference/{entity_id}", headers=admin
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["owner"], view["rule"], view["record_id"]) == (ROK, "all_partners", entity_id)
    assert view["partners"][US] == {"sees_record": True, "hidden_fields": []}
    missing = node.get(
        f"/api/v1/partners/visibility/operational_intent_reference/{uuid.uuid4()}", headers=admin
    )
    assert missing.status_code == 404
    bad = node.get(f"/api/v1/partners/visibility/gossip/{entity_id}", headers=admin)
    assert bad.status_code == 400
    assert "operational_intent_reference" in bad.json()["detail"]


def test_the_live_audit_feed_streams_a_partners_own_changes_only(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    create_intent(node, as_(keys, US, "us-uss", SC), 37.02)  # not rok's: never in rok's feed
    first = create_intent(node, as_(keys, ROK, "rok-uss", SC), 36.91)
    second = create_intent(node, as_(keys, ROK, "rok-uss", SC), 36.93)
    admin = as_(keys, ROK, "admin-park", ADMIN)
    with node.stream(
        "GET", "/api/v1/audit/feed", params={"limit": 2, "idle_timeout_s": 2}, headers=admin
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [block for block in text.split("\n\n") if block.strip()]
    assert len(events) == 2
    data = [orjson.loads(e.split("data: ", 1)[1]) for e in events]
    assert [d["target_id"] for d in data] == [first, second]
    assert {d["partner"] for d in data} == {ROK}
    assert events[0].startswith(f"id: {data[0]['seq']}\nevent: audit\n")
    # Resuming after the last id gives nothing new, and the feed ends when idle.
    with node.stream(
        "GET",
        "/api/v1/audit/feed",
        params={"after_seq": data[1]["seq"], "idle_timeout_s": 0.3},
        headers=admin,
    ) as r:
        assert "".join(r.iter_text()) == ""


def test_a_partner_cannot_act_as_another_partners_uss_by_borrowing_its_subject(
    node: TestClient, keys: dict[str, RSAPrivateKey]
) -> None:
    entity_id = create_intent(node, as_(keys, ROK, "rok-uss", SC), 36.94)
    impostor = as_(keys, US, "rok-uss", SC)  # US's issuer may put any subject in its tokens
    seen = node.get(f"/dss/v1/operational_intent_references/{entity_id}", headers=impostor)
    assert seen.json()["operational_intent_reference"]["ovn"] == "Available from USS"
    owner = node.get(
        f"/dss/v1/operational_intent_references/{entity_id}", headers=as_(keys, ROK, "rok-uss", SC)
    ).json()["operational_intent_reference"]["ovn"]
    gone = node.delete(
        f"/dss/v1/operational_intent_references/{entity_id}/{owner}", headers=impostor
    )
    assert gone.status_code == 403


def test_a_retired_key_stops_verifying_tokens_already_seen(
    node: TestClient, keys: dict[str, RSAPrivateKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization

    from dronecoop.auth import tokens
    from dronecoop.auth.devkeys import mint_token
    from tests.helpers import partner_issuer

    monkeypatch.setattr(tokens, "REGISTERED_KEYS_TTL_S", 0.0)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = new_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    admin = as_(keys, ROK, "admin-park", ADMIN)
    node.post(
        f"/api/v1/partners/{ROK}/keys",
        json={"kid": "k2", "public_key_pem": pem.decode()},
        headers=admin,
    )
    token = mint_token(
        new_key, sub="u", scopes=[SC], audience="localhost", issuer=partner_issuer(ROK), kid="k2"
    )
    query = {"area_of_interest": volume4d()}
    same = {"Authorization": f"Bearer {token}"}
    assert (
        node.post(
            "/dss/v1/operational_intent_references/query", json=query, headers=same
        ).status_code
        == 200
    )
    node.delete(f"/api/v1/partners/{ROK}/keys/k2", headers=admin)
    assert (
        node.post(
            "/dss/v1/operational_intent_references/query", json=query, headers=same
        ).status_code
        == 401
    )


def test_query_parameters_are_read_only_after_the_caller_is_admitted(node: TestClient) -> None:
    for path in ("/api/v1/audit/entries?after_seq=-1", "/api/v1/audit/feed?limit=x"):
        assert node.get(path).status_code == 401


def test_a_partner_minting_a_subject_per_request_still_meets_its_partner_budget(
    keys: dict[str, RSAPrivateKey], tmp_path: Path
) -> None:
    with make_node(tmp_path, keys, rate_limit_per_s=0.01, rate_limit_burst=2) as node:
        statuses = [
            node.get("/api/v1/partners", headers=as_(keys, ROK, f"sub-{i}", ADMIN)).status_code
            for i in range(22)
        ]
    assert statuses[:20] == [200] * 20  # 10 x the per-caller burst of 2
    assert statuses[20:] == [429, 429]


def test_failed_authentications_are_rate_limited_per_client(
    keys: dict[str, RSAPrivateKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dronecoop.web import guard

    monkeypatch.setattr(guard, "FAILED_AUTH_BURST", 3)
    monkeypatch.setattr(guard, "FAILED_AUTH_PER_S", 0.01)  # no refill during the test
    with make_node(tmp_path, keys) as node:
        statuses = [
            node.get("/api/v1/partners", headers={"Authorization": "Bearer nope"}).status_code
            for _ in range(5)
        ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
