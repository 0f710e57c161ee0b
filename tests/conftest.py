"""Shared fixtures: stores on real SQLite and PostgreSQL, a signing key, a DSS client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from sqlalchemy import create_engine, text

# One switch: CI sets DRONECOOP_REQUIRE_SERVICES=1 so that a missing server fails the run
# instead of skipping the tests that need it.
REQUIRE_SERVICES = os.environ.get("DRONECOOP_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get(
    "DRONECOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


# The one setting for shared, read-only material (official specs, real flight logs and
# plans): tests read it in place and never copy it into the repository.
SHARED_DIR = Path(
    os.environ.get("DRONECOOP_SHARED_DIR", str(Path(__file__).resolve().parents[2] / "shared"))
)


def shared_file(relative: str) -> Path:
    """A file under SHARED_DIR; skips the test where it is absent (fails under CI)."""
    path = SHARED_DIR / relative
    if not path.is_file():
        _unavailable(f"{path} not found (set DRONECOOP_SHARED_DIR to the shared folder)")
    return path


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required test service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def signing_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def public_key_file(signing_key: RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "trusted.pem"
    path.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"dronecoop_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    """Back to the state a fresh migration leaves: no rows but the audit chain's genesis."""
    from dronecoop.store.schema import audit_head, metadata

    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(audit_head.insert().values(id=1, seq=0, hash=bytes(32)))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each store implementation."""
    from dronecoop.store.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dronecoop.sqlite3'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("pg_server_url")
    upgrade(url)
    _truncate_all(url)
    yield url
