"""Development signing key: lets a fresh node mint its own tokens (never for production)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

DEV_KEY_BITS = 2048
DEFAULT_TOKEN_LIFETIME_S = 3600


def load_private_key(path: Path) -> RSAPrivateKey:
    """The RSA private key in the PEM file at ``path``."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read an RSA private key from {path}: {exc}") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")  # noqa: TRY004 - a bad file
    return key


def load_or_create_private_key(path: Path) -> RSAPrivateKey:
    """Load the PEM private key at ``path``, creating it (mode 0600) if it does not exist."""
    if path.exists():
        return load_private_key(path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=DEV_KEY_BITS)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def mint_token(
    key: RSAPrivateKey,
    *,
    sub: str,
    scopes: Iterable[str],
    audience: str,
    issuer: str = "dronecoop-dev",
    lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S,
    now_s: float | None = None,
    kid: str | None = None,
) -> str:
    """Sign an RS256 access token with the standards' claim set."""
    issued = int(time.time() if now_s is None else now_s)
    claims = {
        "sub": sub,
        "iss": issuer,
        "aud": audience,
        "scope": " ".join(scopes),
        "iat": issued,
        "nbf": issued - 1,
        "exp": issued + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)
