"""Tokens this node presents to others: to a remote DSS and to peer USSs (F3548 clients).

Two sources, one interface (``TokenSource.token(audience, scopes)``):

- ``SelfSignedTokens``: the node signs its own RS256 tokens with its partner's private key,
  under that partner's issuer; the DSS and the peers trust the public half through their
  partners file (a signed client assertion, without a separate authorization server).
- ``ClientCredentials``: the OAuth 2.0 client credentials grant (RFC 6749 section 4.4)
  against the partner's authorization server, as InterUSS deployments do.

Both cache a token per (audience, scopes) until shortly before it expires. The F3548
audience is the host name of the server called (``audience_of``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from dronecoop.auth.devkeys import mint_token

RENEW_BEFORE_EXPIRY_S = 30.0
SELF_SIGNED_LIFETIME_S = 300


class TokenUnavailable(Exception):
    """No token could be obtained (authorization server down, refused, or malformed)."""


class TokenSource(Protocol):
    def token(self, audience: str, scopes: Iterable[str]) -> str: ...


def audience_of(url: str) -> str:
    """The F3548 audience for calls to ``url``: its host name."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host name in URL {url!r}")
    return host


class _Cache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, frozenset[str]], tuple[str, float]] = {}

    def get(self, key: tuple[str, frozenset[str]]) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
        if hit is not None and hit[1] - RENEW_BEFORE_EXPIRY_S > self._clock():
            return hit[0]
        return None

    def put(self, key: tuple[str, frozenset[str]], token: str, expires_at: float) -> None:
        with self._lock:
            if len(self._tokens) > 256:  # audiences x scope sets stay few; never grow unbounded
                self._tokens.clear()
            self._tokens[key] = (token, expires_at)


class SelfSignedTokens:
    """RS256 tokens signed here with the partner's key, ``sub`` the node's USS identity."""

    def __init__(
        self,
        key: RSAPrivateKey,
        *,
        issuer: str,
        subject: str,
        kid: str | None = None,
        lifetime_s: int = SELF_SIGNED_LIFETIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._issuer = issuer
        self._subject = subject
        self._kid = kid
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._cache = _Cache(clock)

    def token(self, audience: str, scopes: Iterable[str]) -> str:
        key = (audience, frozenset(scopes))
        if (cached := self._cache.get(key)) is not None:
            return cached
        now = self._clock()
        token = mint_token(
            self._key,
            sub=self._subject,
            scopes=sorted(key[1]),
            audience=audience,
            issuer=self._issuer,
            lifetime_s=self._lifetime_s,
            now_s=now,
            kid=self._kid,
        )
        self._cache.put(key, token, now + self._lifetime_s)
        return token


class ClientCredentials:
    """OAuth 2.0 client credentials grant; the audience goes as ``audience`` (RFC 8707-style
    resource indicator) and as InterUSS's ``intended_audience``."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = token_url
        self._auth = (client_id, client_secret)
        self._http = http or httpx.Client(timeout=timeout_s)
        self._clock = clock
        self._cache = _Cache(clock)

    def token(self, audience: str, scopes: Iterable[str]) -> str:
        key = (audience, frozenset(scopes))
        if (cached := self._cache.get(key)) is not None:
            return cached
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(sorted(key[1])),
            "audience": audience,
            "intended_audience": audience,
        }
        try:
            response = self._http.post(self._url, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"token endpoint {self._url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise TokenUnavailable(
                f"token endpoint {self._url} refused the client credentials: "
                f"HTTP {response.status_code} {response.text[:200]}"
            )
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenUnavailable(f"token endpoint {self._url} sent no access_token") from exc
        if not isinstance(token, str) or not token:
            raise TokenUnavailable(f"token endpoint {self._url} sent no access_token")
        self._cache.put(key, token, self._clock() + lifetime)
        return token
