"""USS availability, reports, authentication and hostile requests, on both stores.

Every ``/dss/v1`` endpoint must answer a missing or bad token with 401, a token without
the right scope with 403, oversized bodies with 413 and malformed JSON with 400 — always
with F3548's ``{"message": ...}`` body and never with a 500.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient
from httpx2 import Response

from dronecoop.auth.devkeys import mint_token
from dronecoop.settings import Settings
from tests.helpers import (
    AA,
    ALL_SCOPES,
    CM,
    CMSA,
    CP,
    SC,
    assert_error,
    auth,
    constraint_body,
    error_report_body,
    new_id,
    oir_body,
    subscription_body,
    volume4d,
)

DSS = "/dss/v1"
MAX_REQUEST_BYTES: int = Settings.model_fields["max_request_bytes"].default


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scopes: tuple[str, ...]  # any one of these suffices (F3548-21 OpenAPI security)
    body: dict[str, Any] | None = None

    def call(self, client: TestClient, headers: dict[str, str], **kwargs: Any) -> Response:
        if self.body is not None and "content" not in kwargs:
            kwargs["json"] = self.body
        return client.request(self.method, self.path, headers=headers, **kwargs)


ENTITY_ID = new_id()  # the id every endpoint below names
OVN = "o" * 44  # the OVN or version every update and delete below names


def _endpoints() -> list[Endpoint]:
    eid, ovn = ENTITY_ID, OVN
    aoi = {"area_of_interest": volume4d()}
    oir = f"{DSS}/operational_intent_references"
    cr = f"{DSS}/constraint_references"
    subs = f"{DSS}/subscriptions"
    return [
        Endpoint("POST", f"{oir}/query", (SC, CMSA), aoi),
        Endpoint("GET", f"{oir}/{eid}", (SC, CMSA)),
        Endpoint("PUT", f"{oir}/{eid}", (SC, CMSA), oir_body()),
        Endpoint("PUT", f"{oir}/{eid}/{ovn}", (SC, CMSA), oir_body()),
        Endpoint("DELETE", f"{oir}/{eid}/{ovn}", (SC, CMSA)),
        Endpoint("POST", f"{cr}/query", (CM, CP), aoi),
        Endpoint("GET", f"{cr}/{eid}", (CM, CP)),
        Endpoint("PUT", f"{cr}/{eid}", (CM,), constraint_body()),
        Endpoint("PUT", f"{cr}/{eid}/{ovn}", (CM,), constraint_body()),
        Endpoint("DELETE", f"{cr}/{eid}/{ovn}", (CM,)),
        Endpoint("POST", f"{subs}/query", (CP, SC), aoi),
        Endpoint("GET", f"{subs}/{eid}", (CP, SC)),
        Endpoint("PUT", f"{subs}/{eid}", (CP, SC), subscription_body()),
        Endpoint("PUT", f"{subs}/{eid}/{ovn}", (CP, SC), subscription_body()),
        Endpoint("DELETE", f"{subs}/{eid}/{ovn}", (CP, SC)),
        Endpoint("POST", f"{DSS}/reports", ALL_SCOPES, error_report_body()),
        Endpoint("GET", f"{DSS}/uss_availability/uss1", (AA, SC, CMSA)),
        Endpoint(
            "PUT",
            f"{DSS}/uss_availability/uss1",
            (AA,),
            {"old_version": "", "availability": "Normal"},
        ),
    ]


ENDPOINTS = _endpoints()
WITH_BODY = [e for e in ENDPOINTS if e.body is not None]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- USS availability -----------------------------------------------------------------------


def test_availability_of_a_uss_never_set_is_unknown_with_an_empty_version(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    for scope in (AA, SC, CMSA):
        r = client.get(f"{DSS}/uss_availability/uss9", headers=auth(signing_key, "x", scope))
        assert r.status_code == 200, f"{scope}: {r.text}"
        assert r.json() == {"status": {"uss": "uss9", "availability": "Unknown"}, "version": ""}


def test_availability_is_set_with_compare_and_swap_on_its_version(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = auth(signing_key, "arbiter", AA)
    path = f"{DSS}/uss_availability/uss1"
    r = client.put(path, json={"old_version": "", "availability": "Down"}, headers=h)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == {"uss": "uss1", "availability": "Down"}
    assert first["version"]
    assert client.get(path, headers=h).json() == first

    stale = client.put(path, json={"old_version": "", "availability": "Normal"}, headers=h)
    assert_error(stale, 409, "stale empty version")
    wrong = client.put(path, json={"old_version": "v" * 44, "availability": "Normal"}, headers=h)
    assert_error(wrong, 409, "wrong version")

    r = client.put(
        path, json={"old_version": first["version"], "availability": "Normal"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"]["availability"] == "Normal"
    assert r.json()["version"] != first["version"]
    stale = client.put(
        path, json={"old_version": first["version"], "availability": "Down"}, headers=h
    )
    assert_error(stale, 409, "superseded version")


def test_setting_availability_with_a_version_for_a_uss_never_set_is_a_conflict(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    r = client.put(
        f"{DSS}/uss_availability/uss7",
        json={"old_version": "v" * 44, "availability": "Down"},
        headers=auth(signing_key, "arbiter", AA),
    )
    assert_error(r, 409)


def test_setting_availability_needs_the_arbitration_scope(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    body = {"old_version": "", "availability": "Down"}
    for scope in (SC, CMSA, CM, CP):
        r = client.put(
            f"{DSS}/uss_availability/uss1", json=body, headers=auth(signing_key, "uss2", scope)
        )
        assert_error(r, 403, scope)
    r = client.get(f"{DSS}/uss_availability/uss1", headers=auth(signing_key, "uss2", SC))
    assert r.json()["status"]["availability"] == "Unknown"


def test_an_unknown_availability_state_is_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    r = client.put(
        f"{DSS}/uss_availability/uss1",
        json={"old_version": "", "availability": "Sleepy"},
        headers=auth(signing_key, "arbiter", AA),
    )
    assert_error(r, 400)


# -- reports ----------------------------------------------------------------------------------


def test_a_report_is_stored_and_given_an_id(client: TestClient, signing_key: RSAPrivateKey) -> None:
    ids = set()
    for scope in ALL_SCOPES:
        body = error_report_body()
        r = client.post(f"{DSS}/reports", json=body, headers=auth(signing_key, "uss1", scope))
        assert r.status_code == 201, f"{scope}: {r.text}"
        answer = r.json()
        assert isinstance(answer["report_id"], str)
        assert 0 < len(answer["report_id"]) <= 128
        assert answer["exchange"]["url"] == body["exchange"]["url"]
        ids.add(answer["report_id"])
    assert len(ids) == len(ALL_SCOPES)


def test_a_report_without_an_exchange_is_refused(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    r = client.post(f"{DSS}/reports", json={}, headers=auth(signing_key, "uss1"))
    assert_error(r, 400)


# -- authentication and authorization -------------------------------------------------------


def _claims(**overrides: Any) -> dict[str, Any]:
    issued = int(time.time())
    claims = {
        "sub": "uss1",
        "iss": "dronecoop-test",
        "aud": "localhost",
        "scope": " ".join(ALL_SCOPES),
        "iat": issued,
        "exp": issued + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _unauthenticated_headers(signing_key: RSAPrivateKey) -> Iterator[tuple[str, dict[str, str]]]:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    yield "no header", {}
    yield "empty bearer", {"Authorization": "Bearer "}
    yield "basic scheme", {"Authorization": "Basic dXNzMTpwYXNzd29yZA=="}
    yield "garbage token", _bearer("not.a.jwt")
    yield "bad signature", _bearer(jwt.encode(_claims(), stranger, algorithm="RS256"))
    yield (
        "wrong audience",
        _bearer(mint_token(signing_key, sub="uss1", scopes=ALL_SCOPES, audience="elsewhere")),
    )
    yield (
        "expired",
        _bearer(
            mint_token(
                signing_key,
                sub="uss1",
                scopes=ALL_SCOPES,
                audience="localhost",
                now_s=time.time() - 7200,
            )
        ),
    )
    yield "no exp", _bearer(jwt.encode(_claims(exp=None), signing_key, algorithm="RS256"))
    yield "no sub", _bearer(jwt.encode(_claims(sub=None), signing_key, algorithm="RS256"))
    yield (
        "HS256",
        _bearer(
            jwt.encode(_claims(), "a-shared-secret-long-enough-for-hs256-ok", algorithm="HS256")
        ),
    )
    tampered = mint_token(signing_key, sub="uss1", scopes=ALL_SCOPES, audience="localhost")
    header, _, signature = tampered.split(".")
    other_payload = jwt.encode(_claims(sub="uss2"), signing_key, algorithm="RS256").split(".")[1]
    yield "tampered payload", _bearer(f"{header}.{other_payload}.{signature}")


def test_every_endpoint_refuses_requests_that_are_not_authenticated(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    cases = list(_unauthenticated_headers(signing_key))
    for endpoint in ENDPOINTS:
        for case, headers in cases:
            r = endpoint.call(client, headers)
            assert_error(r, 401, f"{endpoint.method} {endpoint.path} [{case}]")


def test_every_endpoint_refuses_tokens_without_one_of_its_scopes(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    for endpoint in ENDPOINTS:
        others = [s for s in ALL_SCOPES if s not in endpoint.scopes] or ["utm.unrelated"]
        for scope in others:
            r = endpoint.call(client, auth(signing_key, "uss1", scope))
            assert_error(r, 403, f"{endpoint.method} {endpoint.path} [{scope}]")
        r = endpoint.call(client, _bearer(jwt.encode(_claims(scope=""), signing_key, "RS256")))
        assert_error(r, 403, f"{endpoint.method} {endpoint.path} [no scope]")


def test_authentication_is_checked_before_the_body(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    for endpoint in WITH_BODY:
        case = f"{endpoint.method} {endpoint.path}"
        assert_error(endpoint.call(client, {}, content=b"{not json"), 401, case)
        bad_scope = auth(signing_key, "uss1", "utm.unrelated")
        assert_error(endpoint.call(client, bad_scope, content=b"{not json"), 403, case)


# -- hostile bodies -------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_refused_with_413(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = {**auth(signing_key, "uss1"), "Content-Type": "application/json"}
    padding = " " * (MAX_REQUEST_BYTES + 1)
    for endpoint in WITH_BODY:
        case = f"{endpoint.method} {endpoint.path}"
        r = endpoint.call(client, h, content=padding.encode())
        assert_error(r, 413, case)


def test_a_streamed_body_over_the_size_limit_is_refused_with_413(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    h = {**auth(signing_key, "uss1"), "Content-Type": "application/json"}
    r = client.put(f"{DSS}/operational_intent_references/{new_id()}", content=chunks(), headers=h)
    assert_error(r, 413)


def test_a_large_body_under_the_limit_is_accepted(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    body = oir_body()
    body["key"] = ["k" * 100 for _ in range(MAX_REQUEST_BYTES // 200)]
    r = client.put(
        f"{DSS}/operational_intent_references/{new_id()}",
        json=body,
        headers=auth(signing_key, "uss1"),
    )
    assert r.status_code == 201, r.text


MALFORMED_JSON = (
    b"",
    b"{",
    b"{'single': 'quotes'}",
    b'{"a": 1,}',
    b"[1, 2",
    b"\xff\xfe\x00",
    b"NaN",
    b"null",
    b"[]",
    b'"a string"',
    b"42",
)


def test_malformed_json_is_a_bad_request_on_every_endpoint(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = {**auth(signing_key, "uss1"), "Content-Type": "application/json"}
    for endpoint in WITH_BODY:
        for raw in MALFORMED_JSON:
            r = endpoint.call(client, h, content=raw)
            assert_error(r, 400, f"{endpoint.method} {endpoint.path} {raw!r}")


BAD_VALUES: tuple[Any, ...] = ("x", None, -1, 1e308, [], {}, True)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON document, parents before children."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value[:1]):
            yield from _paths(child, (*prefix, i))


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    mutated = copy.deepcopy(document)
    target = mutated
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return mutated


def test_wrongly_typed_fields_never_cause_a_server_error(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    """Replace each field of a valid body, one at a time, by values of the wrong type."""
    h = auth(signing_key, "uss1")
    # An update reads its body exactly as the matching create does: fuzz the creates only.
    for endpoint in (e for e in WITH_BODY if not e.path.endswith(OVN)):
        assert endpoint.body is not None
        for path in _paths(endpoint.body):
            for value in BAD_VALUES:
                body = _replaced(endpoint.body, path, value)
                # A fresh id for every creation, so that each mutation is judged on its own.
                url = endpoint.path.replace(ENTITY_ID, new_id())
                r = client.request(endpoint.method, url, json=body, headers=h)
                case = f"{endpoint.method} {endpoint.path} {path}={value!r}"
                assert r.status_code < 500, f"{case}: {r.status_code} {r.text}"
                if r.status_code >= 400:
                    assert_error(r, r.status_code, case)


def test_unknown_routes_and_methods_keep_the_standard_error_shape(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = auth(signing_key, "uss1")
    assert_error(client.get(f"{DSS}/no_such_resource", headers=h), 404)
    r = client.post(f"{DSS}/operational_intent_references/{new_id()}", json={}, headers=h)
    assert_error(r, 405)
    # The standard's GETs have no HEAD (Starlette would add one to a plain route).
    for resource in ("operational_intent_references", "constraint_references", "subscriptions"):
        r = client.head(f"{DSS}/{resource}/{new_id()}", headers=h)
        assert r.status_code == 405, (resource, r.status_code)


def test_the_bearer_scheme_is_case_insensitive(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    token = mint_token(signing_key, sub="uss1", scopes=ALL_SCOPES, audience="localhost")
    for scheme in ("bearer", "BEARER"):
        r = client.get(
            f"{DSS}/uss_availability/uss1", headers={"Authorization": f"{scheme} {token}"}
        )
        assert r.status_code == 200, f"{scheme}: {r.text}"


def test_tokens_must_be_short_lived_and_name_their_issuer(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    cases = {
        "lives 2 h": jwt.encode(
            _claims(exp=int(time.time()) + 7200), signing_key, algorithm="RS256"
        ),
        "no iss": jwt.encode(_claims(iss=None), signing_key, algorithm="RS256"),
    }
    accepted = []
    for case, token in cases.items():
        r = client.get(f"{DSS}/uss_availability/uss1", headers=_bearer(token))
        if r.status_code != 401:
            accepted.append(f"{case}: {r.status_code}")
    assert not accepted, accepted


def test_availability_states_are_read_case_insensitively(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = auth(signing_key, "arbiter", AA)
    version = ""
    for sent, stored in (("down", "Down"), ("NORMAL", "Normal"), ("", "Unknown")):
        r = client.put(
            f"{DSS}/uss_availability/uss1",
            json={"old_version": version, "availability": sent},
            headers=h,
        )
        assert r.status_code == 200, f"{sent!r}: {r.text}"
        assert r.json()["status"]["availability"] == stored
        version = r.json()["version"]


NESTING_DEPTH = 300  # under orjson's parse limit (1024), over its serialisation limit (255)


def _with_deep_unknown_field(body: dict[str, Any]) -> bytes:
    """``body`` plus an unknown field holding arrays nested NESTING_DEPTH deep."""
    deep = b"[" * NESTING_DEPTH + b"]" * NESTING_DEPTH
    return orjson.dumps(body)[:-1] + b', "x_vendor_extension": ' + deep + b"}"


def _lenient(client: TestClient) -> TestClient:
    """The same app, answering 500 instead of raising, so a 500 can be asserted on."""
    return TestClient(client.app, base_url="http://localhost", raise_server_exceptions=False)


def test_deeply_nested_unknown_fields_never_cause_a_server_error(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = {**auth(signing_key, "uss1"), "Content-Type": "application/json"}
    lenient = _lenient(client)
    for endpoint in WITH_BODY:
        if endpoint.path.endswith("/reports"):
            continue  # see test_a_report_with_deeply_nested_unknown_fields_is_not_a_500
        assert endpoint.body is not None
        url = endpoint.path.replace(ENTITY_ID, new_id())
        r = lenient.request(
            endpoint.method, url, content=_with_deep_unknown_field(endpoint.body), headers=h
        )
        assert r.status_code < 500, f"{endpoint.method} {endpoint.path}: {r.text}"


def test_a_report_with_deeply_nested_unknown_fields_is_not_a_500(
    client: TestClient, signing_key: RSAPrivateKey
) -> None:
    h = {**auth(signing_key, "uss1"), "Content-Type": "application/json"}
    content = _with_deep_unknown_field(error_report_body())
    r = _lenient(client).post(f"{DSS}/reports", content=content, headers=h)
    assert r.status_code in (201, 400), r.text
