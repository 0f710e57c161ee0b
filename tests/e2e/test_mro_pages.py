"""What a maintainer sees, opened in headless Chromium against a real node: the fleet page
(airworthiness, next due, logs) and a flight log's report page (findings, plots)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dronecoop.federation import Federation, LiveNode, bind
from dronecoop.trust.roles import Role
from tests.conftest import _unavailable, shared_file


def chromium() -> str:
    found = (
        os.environ.get("DRONECOOP_TEST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        _unavailable("headless Chromium is not installed (apt-get install chromium)")
    return str(found)


def rendered(url: str, profile: Path) -> str:
    """The page's DOM once its scripts have run (virtual time lets the fetches finish)."""
    result = subprocess.run(  # noqa: S603 - a fixed browser binary and our own loopback URL
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveNode, str]]:
    folder = tmp_path_factory.mktemp("pages")
    fed = Federation.create(folder, [("rok", "ROK Army")])
    sock = bind()
    settings = fed.dss_settings(sock.getsockname()[1], data_dir=folder / "data")
    live = LiveNode("rok", settings, sock).start()
    token = fed.partners["rok"].token("maint@rok", Role.MAINTAINER, Role.OBSERVER)
    yield live, token
    live.stop()


def test_the_fleet_page_and_a_log_report_page(node: tuple[LiveNode, str], tmp_path: Path) -> None:
    live, token = node
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live.url, headers=auth, timeout=120) as api:
        aircraft = api.post(
            "/api/v1/aircraft",
            json={"model": "Iris quad", "serial": "ROK-PAGE-1", "opening_hours": 9.95},
        ).json()
        for task in (
            {"model": "Iris quad", "code": "MOTOR-10H", "title": "motor check", "hours": 10},
            {"model": "Iris quad", "code": "ANNUAL", "title": "annual inspection", "days": 365},
        ):
            assert api.post("/api/v1/mro/tasks", json=task).status_code == 201
        log = api.post(
            "/api/v1/logs",
            content=shared_file("data/logs/flight.tlog").read_bytes(),
            params={"aircraft": aircraft["id"], "filename": "flight.tlog"},
        ).json()
        csv = api.get("/api/v1/mro/due.csv")
        assert csv.headers["content-type"].startswith("text/csv")
        header, row = csv.text.strip().splitlines()
        assert header.startswith("aircraft_id,partner,model,serial,airworthy")
        assert "ROK-PAGE-1" in row
        assert ",False," in row  # MOTOR-10H overdue: grounded
    fleet = rendered(f"{live.url}/fleet#token={token}", tmp_path / "profile-fleet")
    assert 'data-loaded="yes"' in fleet, fleet[-3000:]
    assert "ROK-PAGE-1" in fleet
    assert "GROUNDED" in fleet
    assert "MOTOR-10H" in fleet
    assert f'href="/logs/{log["sha256"]}"' in fleet
    assert "<td>Iris quad ROK-PAGE-1</td><td>tlog</td>" in fleet  # the log's aircraft, named
    page = rendered(f"{live.url}/logs/{log['sha256']}#token={token}", tmp_path / "profile-log")
    assert 'data-loaded="yes"' in page, page[-3000:]
    assert "APM:Copter V3.4-dev" in page
    assert page.count('class="finding"') >= 2
    assert "Z vibration p95" in page
    assert 'src="blob:' in page  # the plots, fetched with the token and shown
    assert "raise a defect" in page  # each finding can become a defect of its aircraft
    assert "4 motors (MAV_TYPE 2: motors on outputs 1-4)" in page  # the quad's, judged
    due = rendered(f"{live.url}/due#token={token}", tmp_path / "profile-due")
    assert 'data-loaded="yes"' in due, due[-3000:]
    assert "1 red, 0 amber, 1 green" in due
    red, green = due.index('data-status="red"'), due.index('data-status="green"')
    assert red < green  # overdue first
    assert "MOTOR-10H" in due[red:green]
    assert "ANNUAL" in due[green:]
    # Without a token the page says what to do, and the API shares nothing.
    bare = rendered(f"{live.url}/fleet", tmp_path / "profile-bare")
    assert "no token" in bare
    assert "ROK-PAGE-1" not in bare
