"""Which partner a token speaks for: its issuer picks the partner, whose keys must sign it.

Each partner has its own ``TokenVerifier`` (its keys, its issuers). A token is routed by
its unverified ``iss`` claim to the one partner that owns that issuer and is then fully
verified there, issuer included: a partner cannot mint tokens that pass as another's,
even with a valid key of its own.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

import orjson

from dronecoop.auth.errors import InvalidToken
from dronecoop.auth.tokens import Principal, TokenVerifier, bearer_token

ROUTE_CACHE_SIZE = 4096


class Authenticator:
    """Verifies bearer tokens for every partner of a node."""

    def __init__(self, verifiers: Iterable[tuple[Iterable[str], TokenVerifier]]) -> None:
        """``verifiers``: (issuers, verifier) pairs; no issuers means any issuer (fallback)."""
        self._by_issuer: dict[str, TokenVerifier] = {}
        self._any_issuer: TokenVerifier | None = None
        self._partners: dict[str, TokenVerifier] = {}
        for issuers, verifier in verifiers:
            issuers = list(issuers)
            self._partners[verifier.partner] = verifier
            if not issuers:
                if self._any_issuer is not None:
                    raise ValueError("only one partner may accept tokens from any issuer")
                self._any_issuer = verifier
            for issuer in issuers:
                if issuer in self._by_issuer:
                    raise ValueError(f"issuer {issuer!r} belongs to two partners")
                self._by_issuer[issuer] = verifier
        if not self._partners:
            raise ValueError("no partner's keys configured")

    @property
    def partner_ids(self) -> list[str]:
        return sorted(self._partners)

    def verify_header(self, authorization: str | None) -> Principal:
        return self.verify(bearer_token(authorization))

    def verify(self, token: str) -> Principal:
        issuer = _unverified_issuer(token)
        verifier = self._by_issuer.get(issuer) if issuer is not None else None
        if verifier is None:
            verifier = self._any_issuer
        if verifier is None:
            raise InvalidToken(f"token issuer {issuer!r} is not any partner's")
        return verifier.verify(token)


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim, read without checking anything: only to choose the verifier."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token: not three dot-separated parts")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidToken(f"malformed token payload: {exc}") from exc
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None
