from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dronecoop.app import create_app
from dronecoop.settings import Settings


@pytest.fixture
def client(db_url: str, public_key_file: Path) -> Iterator[TestClient]:
    settings = Settings(
        db_url=db_url, auth_public_key_files=[public_key_file], auth_audiences=["localhost"]
    )
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client
