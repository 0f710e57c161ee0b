"""Bearer token verification: what is accepted, and every way a forged token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from dronecoop.auth import tokens
from dronecoop.auth.devkeys import load_or_create_private_key, mint_token
from dronecoop.auth.errors import InvalidToken, MissingScope, MissingToken
from dronecoop.auth.tokens import Principal, TokenVerifier, load_public_key_pem

AUDIENCE = "dss.humphreys.example"
ALLY_ISSUER = "https://auth.ally.example"
JWKS_URL = "https://auth.ally.example/.well-known/jwks.json"
SC = "utm.strategic_coordination"
CMSA = "utm.conformance_monitoring_sa"


@pytest.fixture(scope="session")
def trusted_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def stranger_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def verifier(trusted_key: RSAPrivateKey) -> TokenVerifier:
    return TokenVerifier([trusted_key.public_key()], audiences=[AUDIENCE])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "uss1",
        "iss": ALLY_ISSUER,
        "aud": AUDIENCE,
        "scope": SC,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(key: RSAPrivateKey, kid: str | None = None, **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers=headers)


def public_pem(key: RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class Jwks:
    """A JWKS endpoint served through httpx.MockTransport, counting its requests."""

    def __init__(self, keys: dict[str, RSAPrivateKey], status: int = 200) -> None:
        self.keys = keys
        self.status = status
        self.requests = 0
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert str(request.url) == JWKS_URL
        if self.status != 200:
            return httpx.Response(self.status)
        jwks = [
            {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}
            for kid, key in self.keys.items()
        ]
        return httpx.Response(200, json={"keys": jwks})

    def verifier(self, *static_keys: RSAPrivateKey) -> TokenVerifier:
        return TokenVerifier(
            [k.public_key() for k in static_keys],
            audiences=[AUDIENCE],
            jwks_urls=[JWKS_URL],
            http=self.client,
        )


@pytest.fixture
def serve_jwks() -> Iterator[Callable[..., Jwks]]:
    """Builds JWKS endpoints; closes their clients afterwards."""
    served: list[Jwks] = []

    def serve(keys: dict[str, RSAPrivateKey], status: int = 200) -> Jwks:
        served.append(Jwks(keys, status))
        return served[-1]

    yield serve
    for jwks in served:
        jwks.client.close()


# --------------------------------------------------------------------------- accepted


def test_a_valid_token_yields_its_subject_issuer_and_scopes(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    principal = verifier.verify(signed(trusted_key, scope=f"{SC} {CMSA}"))
    assert principal == Principal(sub="uss1", iss=ALLY_ISSUER, scopes=frozenset({SC, CMSA}))


def test_a_dev_minted_token_is_accepted_through_the_authorization_header(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    token = mint_token(trusted_key, sub="uss2", scopes=[SC], audience=AUDIENCE)
    principal = verifier.verify_header(f"Bearer {token}")
    assert (principal.sub, principal.iss, principal.scopes) == ("uss2", "dronecoop-dev", {SC})


def test_the_bearer_scheme_is_case_insensitive(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    assert verifier.verify_header(f"bearer {signed(trusted_key)}").sub == "uss1"


def test_a_token_without_scope_claim_has_no_scopes(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    assert verifier.verify(signed(trusted_key, scope=None)).scopes == frozenset()


def test_a_token_expired_within_the_clock_skew_leeway_is_accepted(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    assert verifier.verify(signed(trusted_key, exp=int(time.time()) - 2)).sub == "uss1"


def test_a_token_from_a_configured_issuer_is_accepted(trusted_key: RSAPrivateKey) -> None:
    verifier = TokenVerifier(
        [trusted_key.public_key()], audiences=[AUDIENCE], issuers=["other", ALLY_ISSUER]
    )
    assert verifier.verify(signed(trusted_key)).iss == ALLY_ISSUER


def test_keys_load_from_a_public_key_file(trusted_key: RSAPrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "ally.pem"
    path.write_bytes(public_pem(trusted_key))
    verifier = TokenVerifier.from_files([path], audiences=[AUDIENCE])
    assert verifier.verify(signed(trusted_key)).sub == "uss1"


def test_a_private_key_pem_yields_its_public_key(trusted_key: RSAPrivateKey) -> None:
    pem = trusted_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert load_public_key_pem(pem).public_numbers() == trusted_key.public_key().public_numbers()


# --------------------------------------------------------------------------- refused claims


def test_a_token_for_another_audience_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match=f"audience is not accepted here.*{AUDIENCE}"):
        verifier.verify(signed(trusted_key, aud="dss.elsewhere.example"))


def test_a_token_without_audience_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="lacks the 'aud' claim"):
        verifier.verify(signed(trusted_key, aud=None))


def test_an_expired_token_is_refused(verifier: TokenVerifier, trusted_key: RSAPrivateKey) -> None:
    two_hours_ago = time.time() - 7200
    token = mint_token(trusted_key, sub="uss1", scopes=[SC], audience=AUDIENCE, now_s=two_hours_ago)
    with pytest.raises(InvalidToken, match="token has expired"):
        verifier.verify(token)


def test_a_token_without_expiry_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="lacks the 'exp' claim"):
        verifier.verify(signed(trusted_key, exp=None))


def test_a_token_not_yet_valid_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="not yet valid"):
        verifier.verify(signed(trusted_key, nbf=int(time.time()) + 600))


def test_a_token_without_subject_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="lacks the 'sub' claim"):
        verifier.verify(signed(trusted_key, sub=None))


def test_a_token_with_an_empty_subject_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="no 'sub' claim"):
        verifier.verify(signed(trusted_key, sub=""))


def test_a_token_whose_scope_is_a_list_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="'scope' claim must be a space-separated string"):
        verifier.verify(signed(trusted_key, scope=[SC]))


def test_a_token_from_an_unconfigured_issuer_is_refused(trusted_key: RSAPrivateKey) -> None:
    verifier = TokenVerifier(
        [trusted_key.public_key()], audiences=[AUDIENCE], issuers=[ALLY_ISSUER]
    )
    with pytest.raises(InvalidToken, match="issuer is not trusted"):
        verifier.verify(signed(trusted_key, iss="https://auth.rogue.example"))


def test_a_token_without_issuer_is_refused_when_issuers_are_configured(
    trusted_key: RSAPrivateKey,
) -> None:
    verifier = TokenVerifier(
        [trusted_key.public_key()], audiences=[AUDIENCE], issuers=[ALLY_ISSUER]
    )
    with pytest.raises(InvalidToken, match="lacks the 'iss' claim"):
        verifier.verify(signed(trusted_key, iss=None))


# --------------------------------------------------------------------------- forgeries


def test_an_unsigned_alg_none_token_is_refused(verifier: TokenVerifier) -> None:
    token = f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(claims())}."
    with pytest.raises(InvalidToken, match="algorithm 'none' is not accepted; only RS256"):
        verifier.verify(token)


def test_an_hs256_token_keyed_with_the_public_key_pem_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    # Algorithm confusion: a verifier that let the token pick HS256 would check this MAC
    # with the (public) PEM bytes as the secret, and accept it.
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims())}"
    mac = hmac.new(public_pem(trusted_key), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm 'HS256' is not accepted"):
        verifier.verify(f"{signing_input}.{b64url(mac)}")


def test_a_token_signed_by_an_untrusted_key_is_refused(
    verifier: TokenVerifier, stranger_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="signature does not match any trusted key"):
        verifier.verify(signed(stranger_key))


def test_a_token_whose_claims_were_edited_after_signing_is_refused(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    header, _, signature = signed(trusted_key, sub="uss1").split(".")
    forged = f"{header}.{b64json(claims(sub='uss-admin'))}.{signature}"
    with pytest.raises(InvalidToken, match="signature does not match"):
        verifier.verify(forged)


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", ""])
def test_a_malformed_token_is_refused(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(InvalidToken, match="malformed token"):
        verifier.verify(garbage)


def test_a_remembered_token_is_still_refused_once_it_has_expired(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Accept a token that expired 30 s ago under a generous leeway, so it is remembered...
    token = signed(trusted_key, exp=int(time.time()) - 30)
    monkeypatch.setattr(tokens, "CLOCK_SKEW_LEEWAY_S", 60)
    assert verifier.verify(token).sub == "uss1"
    # ...then restore the real leeway: the remembered verification must not outlive it.
    monkeypatch.setattr(tokens, "CLOCK_SKEW_LEEWAY_S", 5)
    with pytest.raises(InvalidToken, match="token has expired"):
        verifier.verify(token)


def test_a_remembered_token_does_not_vouch_for_a_forgery_of_it(
    verifier: TokenVerifier, trusted_key: RSAPrivateKey
) -> None:
    genuine = signed(trusted_key, sub="uss1")
    assert verifier.verify(genuine).sub == "uss1"
    header, _, signature = genuine.split(".")
    with pytest.raises(InvalidToken, match="signature does not match"):
        verifier.verify(f"{header}.{b64json(claims(sub='uss-admin'))}.{signature}")


# --------------------------------------------------------------------------- JWKS


def test_a_token_whose_kid_is_in_the_jwks_is_accepted(
    trusted_key: RSAPrivateKey, serve_jwks: Callable[..., Jwks]
) -> None:
    jwks = serve_jwks({"ally-2030": trusted_key})
    assert jwks.verifier().verify(signed(trusted_key, kid="ally-2030")).sub == "uss1"
    assert jwks.requests == 1


def test_a_token_whose_kid_is_not_in_the_jwks_is_refused(
    trusted_key: RSAPrivateKey,
    stranger_key: RSAPrivateKey,
    serve_jwks: Callable[..., Jwks],
) -> None:
    jwks = serve_jwks({"ally-2030": trusted_key})
    with pytest.raises(InvalidToken, match="key id 'rogue' is not trusted"):
        jwks.verifier().verify(signed(stranger_key, kid="rogue"))


def test_a_token_claiming_a_known_kid_but_signed_by_another_key_is_refused(
    trusted_key: RSAPrivateKey,
    stranger_key: RSAPrivateKey,
    serve_jwks: Callable[..., Jwks],
) -> None:
    jwks = serve_jwks({"ally-2030": trusted_key})
    with pytest.raises(InvalidToken, match="signature does not match any trusted key"):
        jwks.verifier().verify(signed(stranger_key, kid="ally-2030"))


def test_unknown_kids_do_not_make_the_verifier_hammer_the_jwks_endpoint(
    trusted_key: RSAPrivateKey,
    stranger_key: RSAPrivateKey,
    serve_jwks: Callable[..., Jwks],
) -> None:
    jwks = serve_jwks({"ally-2030": trusted_key})
    verifier = jwks.verifier()
    for kid in ("rogue-1", "rogue-2", "rogue-3"):
        with pytest.raises(InvalidToken, match="is not trusted"):
            verifier.verify(signed(stranger_key, kid=kid))
    assert jwks.requests == 1


def test_an_unreachable_jwks_trusts_no_key(
    trusted_key: RSAPrivateKey, serve_jwks: Callable[..., Jwks]
) -> None:
    jwks = serve_jwks({"ally-2030": trusted_key}, status=503)
    with pytest.raises(InvalidToken, match="key id 'ally-2030' is not trusted"):
        jwks.verifier().verify(signed(trusted_key, kid="ally-2030"))


def test_static_keys_still_verify_a_token_with_an_unknown_kid(
    trusted_key: RSAPrivateKey,
    stranger_key: RSAPrivateKey,
    serve_jwks: Callable[..., Jwks],
) -> None:
    jwks = serve_jwks({"ally-2030": stranger_key})
    assert jwks.verifier(trusted_key).verify(signed(trusted_key, kid="local")).sub == "uss1"


def test_a_verifier_without_any_key_source_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="no trusted keys"):
        TokenVerifier([], audiences=[AUDIENCE])


def test_a_non_rsa_public_key_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="only RSA keys are supported"):
        load_public_key_pem(pem)


# --------------------------------------------------------------------------- header and scopes


@pytest.mark.parametrize("header", [None, ""])
def test_a_request_without_authorization_header_is_refused(
    verifier: TokenVerifier, header: str | None
) -> None:
    with pytest.raises(MissingToken, match="missing Authorization header"):
        verifier.verify_header(header)


@pytest.mark.parametrize("header", ["Basic dXNzMTpzZWNyZXQ=", "Bearer", "Bearer   ", "Token abc"])
def test_an_authorization_header_that_is_not_a_bearer_token_is_refused(
    verifier: TokenVerifier, header: str
) -> None:
    with pytest.raises(MissingToken, match="must be 'Bearer <token>'"):
        verifier.verify_header(header)


def test_a_principal_lacking_every_accepted_scope_is_refused_with_the_scopes_needed() -> None:
    principal = Principal(sub="uss1", iss=None, scopes=frozenset({"utm.constraint_processing"}))
    with pytest.raises(MissingScope, match=f"one of {CMSA}, {SC} is needed"):
        principal.require(SC, CMSA)


def test_a_principal_holding_one_accepted_scope_passes() -> None:
    principal = Principal(sub="uss1", iss=None, scopes=frozenset({CMSA}))
    principal.require(SC, CMSA)
    principal.require()


# --------------------------------------------------------------------------- dev keys


def test_a_dev_key_is_created_private_and_reloaded_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "dev.pem"
    created = load_or_create_private_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reloaded = load_or_create_private_key(path)
    assert reloaded.private_numbers() == created.private_numbers()


def test_a_dev_key_file_holding_a_non_rsa_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dev.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="is not an RSA private key"):
        load_or_create_private_key(path)


def test_a_minted_token_carries_the_standard_claims(trusted_key: RSAPrivateKey) -> None:
    token = mint_token(
        trusted_key, sub="uss1", scopes=[SC, CMSA], audience=AUDIENCE, lifetime_s=120, now_s=1e9
    )
    decoded = jwt.decode(
        token,
        trusted_key.public_key(),
        algorithms=["RS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded["scope"] == f"{SC} {CMSA}"
    assert (decoded["iat"], decoded["exp"]) == (1_000_000_000, 1_000_000_120)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
