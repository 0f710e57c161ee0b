from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings

ALLIES = ("rok-army", "us-army")


@pytest.fixture
def client(db_url: str, public_key_file: Path) -> Iterator[TestClient]:
    settings = Settings(
        db_url=db_url, auth_public_key_files=[public_key_file], auth_audiences=["localhost"]
    )
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keys() -> dict[str, RSAPrivateKey]:
    """A signing key for each of the two allies the e2e tests use (rok-army, us-army)."""
    return {p: rsa.generate_private_key(public_exponent=65537, key_size=2048) for p in ALLIES}
