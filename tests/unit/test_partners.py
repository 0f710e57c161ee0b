"""Partners, roles and the authenticator: a token's issuer decides its partner, and only
that partner's keys may sign it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from dronecoop.auth.authenticator import Authenticator
from dronecoop.auth.devkeys import mint_token
from dronecoop.auth.errors import InvalidToken, MissingScope
from dronecoop.auth.tokens import TokenVerifier
from dronecoop.trust.errors import PartnersFileError
from dronecoop.trust.partners import parse_partners
from dronecoop.trust.roles import (
    ROLE_PERMISSIONS,
    STRATEGIC_COORDINATION,
    Permission,
    Role,
    permissions_of,
    role_scope,
)

AUD = "dss.humphreys.example"
ROK_ISS = "https://auth.rok.example"
US_ISS = "https://auth.us.example"

PARTNERS_TOML = f"""
[partners.rok-army]
name = "ROK Army UAV unit"
issuers = ["{ROK_ISS}"]
public_key_files = ["keys/rok.pem"]
depot = true

[partners.us-army]
issuers = ["{US_ISS}"]
jwks_urls = ["https://auth.us.example/jwks.json"]
"""


@pytest.fixture(scope="module")
def rok_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def us_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def authenticator(rok_key: RSAPrivateKey, us_key: RSAPrivateKey) -> Authenticator:
    return Authenticator(
        [
            (
                [ROK_ISS],
                TokenVerifier(
                    [rok_key.public_key()], audiences=[AUD], issuers=[ROK_ISS], partner="rok-army"
                ),
            ),
            (
                [US_ISS],
                TokenVerifier(
                    [us_key.public_key()], audiences=[AUD], issuers=[US_ISS], partner="us-army"
                ),
            ),
        ]
    )


def mint(key: RSAPrivateKey, issuer: str, *scopes: str, sub: str = "planner-kim") -> str:
    return mint_token(key, sub=sub, scopes=scopes, audience=AUD, issuer=issuer)


def test_the_partners_file_names_partners_with_their_issuers_and_keys() -> None:
    partners = parse_partners(PARTNERS_TOML, Path("/etc/dronecoop"))
    assert partners.ids() == ["rok-army", "us-army"]
    rok = partners.get("rok-army")
    assert rok is not None
    assert rok.public_key_files == (Path("/etc/dronecoop/keys/rok.pem"),)
    assert rok.depot
    us = partners.get("us-army")
    assert us is not None
    assert us.name == "us-army"  # defaults to the id
    assert not us.depot


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1", r"no \[partners\.<id>\]"),
        ('[partners."ROK Army"]\nissuers=["a"]\njwks_urls=["u"]', "lower-case"),
        ('[partners.a]\njwks_urls=["u"]', "at least one token issuer"),
        ('[partners.a]\nissuers=["a"]', "public_key_files or jwks_urls"),
        (
            '[partners.a]\nissuers=["i"]\njwks_urls=["u"]\n[partners.b]\nissuers=["i"]\njwks_urls=["u"]',
            "claimed by both",
        ),
        ('[partners.a]\nissuers=["i"]\njwks_urls=["u"]\nkeys=["k"]', "unknown keys"),
        ('[partners.a]\nissuers="i"\njwks_urls=["u"]', "list of strings"),
        ('[partners.a]\nissuers=["i"]\njwks_urls=["u"]\ndepot="yes"', "true or false"),
    ],
)
def test_a_bad_partners_file_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PartnersFileError, match=message):
        parse_partners(text, Path())


def test_a_token_speaks_for_the_partner_owning_its_issuer(
    authenticator: Authenticator, rok_key: RSAPrivateKey, us_key: RSAPrivateKey
) -> None:
    rok = authenticator.verify(mint(rok_key, ROK_ISS, STRATEGIC_COORDINATION))
    us = authenticator.verify(mint(us_key, US_ISS, STRATEGIC_COORDINATION, sub="capt-lee"))
    assert (rok.partner, rok.sub) == ("rok-army", "planner-kim")
    assert (us.partner, us.sub) == ("us-army", "capt-lee")


def test_a_partner_cannot_sign_tokens_for_another_partners_issuer(
    authenticator: Authenticator, us_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="signature"):
        authenticator.verify(mint(us_key, ROK_ISS, STRATEGIC_COORDINATION))


def test_a_token_from_an_issuer_no_partner_owns_is_refused(
    authenticator: Authenticator, rok_key: RSAPrivateKey
) -> None:
    with pytest.raises(InvalidToken, match="not any partner's"):
        authenticator.verify(mint(rok_key, "https://auth.stranger.example"))


@pytest.mark.parametrize("garbage", ["abc", "a.b", "a.!!!.c", "a.bm90IGpzb24.c"])
def test_a_malformed_token_is_refused_before_any_key_is_tried(
    authenticator: Authenticator, garbage: str
) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        authenticator.verify(garbage)


def test_one_verifier_may_accept_any_issuer_when_no_partners_are_configured(
    rok_key: RSAPrivateKey,
) -> None:
    local = Authenticator([([], TokenVerifier([rok_key.public_key()], audiences=[AUD]))])
    assert local.verify(mint(rok_key, "whoever")).partner == "local"


def test_two_partners_cannot_share_an_issuer(rok_key: RSAPrivateKey) -> None:
    verifier = TokenVerifier([rok_key.public_key()], audiences=[AUD])
    with pytest.raises(ValueError, match="belongs to two partners"):
        Authenticator([([ROK_ISS], verifier), ([ROK_ISS], verifier)])


def test_roles_grant_permissions_and_the_standards_scopes() -> None:
    planner = permissions_of([role_scope(Role.PLANNER)])
    assert STRATEGIC_COORDINATION in planner
    assert Permission.FLIGHTS_PLAN in planner
    assert Permission.MRO_WRITE not in planner
    observer = permissions_of([role_scope(Role.OBSERVER)])
    assert not any(p.startswith("utm.") for p in observer)
    assert all(not p.endswith((".write", ".plan", ".fly", ".admin", ".ingest")) for p in observer)


def test_unknown_role_names_grant_nothing() -> None:
    assert permissions_of(["dronecoop.role.general"]) == {"dronecoop.role.general"}


def test_every_role_grants_something_and_no_role_but_the_admin_administers() -> None:
    for role, granted in ROLE_PERMISSIONS.items():
        assert granted, role
        assert (Permission.PARTNERS_ADMIN in granted) == (role is Role.PARTNER_ADMIN)


def test_a_role_token_is_checked_on_its_permissions(
    authenticator: Authenticator, rok_key: RSAPrivateKey
) -> None:
    principal = authenticator.verify(mint(rok_key, ROK_ISS, role_scope(Role.OBSERVER)))
    principal.require(Permission.COP_READ)
    with pytest.raises(MissingScope):
        principal.require(STRATEGIC_COORDINATION)


def test_priorities_by_mission_type_capped_per_partner(tmp_path: Path) -> None:
    from dronecoop.planning.errors import PlanningError
    from dronecoop.trust.partners_file import load_priorities

    path = tmp_path / "partners.toml"
    path.write_text(
        "[priorities]\ndefault = 5\nmission_types = { Medevac = 70, recce = 20 }\n"
        "partner_max = { us-army = 60 }\n",
        encoding="utf-8",
    )
    policy = load_priorities(path)
    assert policy.priority_for("rok-army", "medevac", None) == 70  # by mission type
    assert policy.priority_for("rok-army", "training", None) == 5  # the default
    assert policy.priority_for("rok-army", "medevac", 10) == 10  # asked for: taken
    with pytest.raises(PlanningError, match="above us-army's agreed maximum of 60"):
        policy.priority_for("us-army", "medevac", None)
    assert load_priorities(None).priority_for("x", None, None) == 0
    path.write_text("[priorities]\ndefault = 101\n", encoding="utf-8")
    with pytest.raises(PartnersFileError, match="between 0 and 100"):
        load_priorities(path)
