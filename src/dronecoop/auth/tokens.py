"""Bearer token verification: RS256 only, keys from PEM files or JWKS URLs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from dronecoop.auth.errors import InvalidToken, MissingScope, MissingToken
from dronecoop.trust.partners import LOCAL_PARTNER
from dronecoop.trust.roles import permissions_of

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
JWKS_MIN_REFRESH_INTERVAL_S = 60.0
REGISTERED_KEYS_TTL_S = 30.0  # a retired registered key stops verifying within this
REGISTERED_KEYS_MIN_REFRESH_S = 1.0
# Verified tokens are remembered until they expire: an RS256 check costs ~0.1 ms, a
# USS reuses one token for many requests, and the cache key is the whole signed token.
VERIFIED_CACHE_SIZE = 4096
CLOCK_SKEW_LEEWAY_S = 5
# InterUSS dss pkg/auth/claims: an access token may live at most one hour.
MAX_TOKEN_LIFETIME_S = 3600


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's subject, issuer, scopes, and the partner it belongs to.

    ``permissions`` are the scopes plus what the roles among them grant (trust.roles).
    """

    sub: str
    iss: str | None
    scopes: frozenset[str]
    partner: str = LOCAL_PARTNER
    permissions: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.permissions:
            object.__setattr__(self, "permissions", permissions_of(self.scopes))

    def require(self, *any_of: str) -> None:
        """Raise MissingScope unless the principal holds at least one of ``any_of``."""
        if any_of and not self.permissions.intersection(any_of):
            raise MissingScope(
                f"token lacks the required scope: one of {', '.join(sorted(any_of))} is needed"
            )


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header value."""
    if not authorization:
        raise MissingToken("missing Authorization header with a Bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("Authorization header must be 'Bearer <token>'")
    return token.strip()


def load_public_key_pem(data: bytes) -> RSAPublicKey:
    """Load an RSA public key from PEM: a public key, a certificate or a private key."""
    if b"CERTIFICATE" in data:
        from cryptography import x509

        key: Any = x509.load_pem_x509_certificate(data).public_key()
    elif b"PRIVATE KEY" in data:
        key = load_pem_private_key(data, password=None).public_key()
    else:
        key = load_pem_public_key(data)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("only RSA keys are supported (RS256)")  # noqa: TRY004 - a bad value
    return key


class TokenVerifier:
    """Verifies bearer JWTs against a set of trusted RSA public keys."""

    def __init__(
        self,
        keys: Iterable[RSAPublicKey] = (),
        *,
        audiences: Sequence[str],
        issuers: Sequence[str] = (),
        jwks_urls: Sequence[str] = (),
        http: httpx.Client | None = None,
        partner: str = LOCAL_PARTNER,
        registered_keys: Callable[[], dict[str, RSAPublicKey]] | None = None,
    ) -> None:
        self.partner = partner
        # Keys a partner admin registered at run time (rotation), read again every
        # REGISTERED_KEYS_TTL_S, and at once (rate-limited) for a kid not seen yet.
        self._registry = registered_keys
        self._registered: dict[str, RSAPublicKey] = {}
        self._registered_at = float("-inf")
        self._static_keys = list(keys)
        self._jwks_keys: dict[str, RSAPublicKey] = {}
        self._audiences = list(audiences)
        self._issuers = list(issuers)
        self._jwks_urls = list(jwks_urls)
        self._http = http
        self._jwks_lock = threading.Lock()
        self._jwks_fetched_at = float("-inf")
        self._verified: dict[str, tuple[Principal, float]] = {}
        if not self._static_keys and not self._jwks_urls:
            raise ValueError("no trusted keys: configure public key files or JWKS URLs")

    @classmethod
    def from_files(cls, paths: Iterable[Path], **kwargs: Any) -> TokenVerifier:
        return cls([load_public_key_pem(Path(p).read_bytes()) for p in paths], **kwargs)

    def verify_header(self, authorization: str | None) -> Principal:
        """Verify an ``Authorization: Bearer ...`` header value."""
        return self.verify(bearer_token(authorization))

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires_at = cached
            if time.time() < expires_at + CLOCK_SKEW_LEEWAY_S:
                return principal
            self._verified.pop(token, None)
        principal, expires_at = self._verify_uncached(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            # Drop the oldest entry (dicts keep insertion order).
            self._verified.pop(next(iter(self._verified)), None)
        self._verified[token] = (principal, expires_at)
        return principal

    def _verify_uncached(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise InvalidToken(f"token algorithm {alg!r} is not accepted; only RS256 is")
        claims = self._decode_with_candidates(token, header.get("kid"))
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("token has no 'sub' claim")
        if float(claims["exp"]) > time.time() + MAX_TOKEN_LIFETIME_S + CLOCK_SKEW_LEEWAY_S:
            raise InvalidToken(
                f"token expires too far in the future: at most {MAX_TOKEN_LIFETIME_S} s ahead"
            )
        if not isinstance(claims.get("iss"), str) or not claims["iss"]:
            raise InvalidToken("token has no 'iss' claim")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("token 'scope' claim must be a space-separated string")
        iss = claims.get("iss")
        principal = Principal(
            sub=sub,
            iss=iss if isinstance(iss, str) else None,
            scopes=frozenset(scope.split()),
            partner=self.partner,
        )
        remember_until = float(claims["exp"])
        kid = header.get("kid")
        if isinstance(kid, str) and kid in self._registered:
            # A registered key may be retired at any time: re-check such tokens as often
            # as the registry is re-read, not only when they expire.
            # (the cache adds the clock-skew leeway on top, so take it off here)
            until = time.time() + REGISTERED_KEYS_TTL_S - CLOCK_SKEW_LEEWAY_S
            remember_until = min(remember_until, until)
        return principal, remember_until

    def _decode_with_candidates(self, token: str, kid: object) -> dict[str, Any]:
        candidates = self._candidate_keys(kid)
        if not candidates:
            raise InvalidToken(f"token key id {kid!r} is not trusted")
        last: jwt.PyJWTError | None = None
        for key in candidates:
            try:
                return self._decode(token, key)
            except jwt.InvalidSignatureError as exc:
                last = exc
            except jwt.ExpiredSignatureError as exc:
                raise InvalidToken("token has expired") from exc
            except jwt.InvalidAudienceError as exc:
                raise InvalidToken(
                    f"token audience is not accepted here (accepted: {', '.join(self._audiences)})"
                ) from exc
            except jwt.InvalidIssuerError as exc:
                raise InvalidToken("token issuer is not trusted") from exc
            except jwt.MissingRequiredClaimError as exc:
                raise InvalidToken(f"token lacks the '{exc.claim}' claim") from exc
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"invalid token: {exc}") from exc
        raise InvalidToken("token signature does not match any trusted key") from last

    def _decode(self, token: str, key: RSAPublicKey) -> dict[str, Any]:
        options: dict[str, Any] = {"require": ["exp", "sub", "aud", "iss"]}
        kwargs: dict[str, Any] = {}
        if self._issuers:
            kwargs["issuer"] = self._issuers
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=self._audiences,
            options=options,  # type: ignore[arg-type]
            leeway=CLOCK_SKEW_LEEWAY_S,
            **kwargs,
        )
        return claims

    def _candidate_keys(self, kid: object) -> list[RSAPublicKey]:
        """The registered or JWKS key named by ``kid`` if there is one, else every trusted key."""
        if self._registry is not None:
            registered = self._registered_keys(kid)
            if isinstance(kid, str) and kid in registered:
                return [registered[kid]]
            if not isinstance(kid, str):
                return [*self._static_keys, *self._jwks_keys.values(), *registered.values()]
        if self._jwks_urls and (isinstance(kid, str) or not self._jwks_keys):
            if not isinstance(kid, str) or kid not in self._jwks_keys:
                self._refresh_jwks()  # rate-limited: an unknown kid may be a rotated key
            if isinstance(kid, str):
                key = self._jwks_keys.get(kid)
                return [key] if key is not None else list(self._static_keys)
        return [*self._static_keys, *self._jwks_keys.values()]

    def _registered_keys(self, kid: object) -> dict[str, RSAPublicKey]:
        assert self._registry is not None
        age = time.monotonic() - self._registered_at
        unseen = isinstance(kid, str) and kid not in self._registered
        if age > REGISTERED_KEYS_TTL_S or (unseen and age > REGISTERED_KEYS_MIN_REFRESH_S):
            self._registered = self._registry()
            self._registered_at = time.monotonic()
        return self._registered

    def _refresh_jwks(self) -> None:
        with self._jwks_lock:
            now = time.monotonic()
            if now - self._jwks_fetched_at < JWKS_MIN_REFRESH_INTERVAL_S:
                return
            self._jwks_fetched_at = now
            client = self._http or httpx.Client(timeout=5.0)
            keys: dict[str, RSAPublicKey] = {}
            for url in self._jwks_urls:
                try:
                    response = client.get(url)
                    response.raise_for_status()
                    for jwk in response.json().get("keys", []):
                        if jwk.get("kty") != "RSA":
                            continue
                        key = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
                        if isinstance(key, RSAPublicKey):
                            keys[str(jwk.get("kid", len(keys)))] = key
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                    logger.warning("could not fetch JWKS from %s: %s", url, exc)
            if keys:
                self._jwks_keys = keys
