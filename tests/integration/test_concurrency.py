"""Real concurrent clients against a real server: conflicting writes never both succeed.

A uvicorn server runs in a background thread on a loopback socket, for each store. Each
round fires two PUTs at the same instant (a barrier releases both threads), each over its
own HTTP connection, so the two requests really overlap inside the server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from dronecoop.app import create_app
from dronecoop.settings import Settings
from tests.helpers import (
    HUMPHREYS,
    auth,
    constraint_body,
    new_id,
    now,
    oir_body,
    subscription_body,
    volume4d,
)

ROUNDS = 20
SERVER_START_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 15.0
ROUND_TIMEOUT_S = 30.0
OIRS = "/dss/v1/operational_intent_references"
ROUND_SPACING_DEG = 0.05  # ~5.5 km between rounds' areas: no shared S2 level-13 cell


@pytest.fixture
def server_url(db_url: str, public_key_file: Path) -> Iterator[str]:
    """A dronecoop node served by uvicorn on 127.0.0.1 at a free port."""
    settings = Settings(
        db_url=db_url, auth_public_key_files=[public_key_file], auth_audiences=["localhost"]
    )
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_START_TIMEOUT_S)
        sock.close()
        assert not thread.is_alive(), "the uvicorn server did not stop"


def _race(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run ``calls`` at the same instant, one thread each; return their responses in order."""
    barrier = threading.Barrier(len(calls), timeout=ROUND_TIMEOUT_S)
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ROUND_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a request did not finish in time"
    responses: list[httpx.Response] = []
    for result in results:
        if not isinstance(result, httpx.Response):
            pytest.fail(f"a racing request failed: {result!r}")
        responses.append(result)
    return responses


def _clients(server_url: str, n: int) -> list[httpx.Client]:
    return [httpx.Client(base_url=server_url, timeout=REQUEST_TIMEOUT_S) for _ in range(n)]


def _extents(round_no: int) -> list[dict[str, Any]]:
    lat = HUMPHREYS[0] + round_no * ROUND_SPACING_DEG
    return [volume4d(lat, start=now() + timedelta(minutes=1), duration=timedelta(minutes=30))]


def test_racing_conflicting_creates_never_both_succeed(
    server_url: str, signing_key: RSAPrivateKey
) -> None:
    uss1, uss2 = _clients(server_url, 2)
    h1, h2 = auth(signing_key, "uss1"), auth(signing_key, "uss2")
    try:
        for round_no in range(ROUNDS):
            extents = _extents(round_no)
            ids = new_id(), new_id()
            body1 = oir_body(extents, base_url="https://uss1.example/utm")
            body2 = oir_body(extents, base_url="https://uss2.example/utm")
            first, second = _race(
                partial(uss1.put, f"{OIRS}/{ids[0]}", json=body1, headers=h1),
                partial(uss2.put, f"{OIRS}/{ids[1]}", json=body2, headers=h2),
            )
            statuses = sorted((first.status_code, second.status_code))
            assert statuses == [201, 409], f"round {round_no}: {first.text} / {second.text}"
            winner, loser = (first, second) if first.status_code == 201 else (second, first)
            winner_id = winner.json()["operational_intent_reference"]["id"]
            missing = [m["id"] for m in loser.json()["missing_operational_intents"]]
            assert missing == [winner_id], f"round {round_no}"
            found = uss1.post(
                f"{OIRS}/query", json={"area_of_interest": extents[0]}, headers=h1
            ).json()["operational_intent_references"]
            assert [x["id"] for x in found] == [winner_id], f"round {round_no}"
    finally:
        uss1.close()
        uss2.close()


SAME_ID_KINDS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], dict[str, Any]], int]] = {
    # kind: (collection path, body builder, status of a successful create)
    "operational_intent": (OIRS, lambda ext: oir_body(ext, implicit=False), 201),
    "constraint": ("/dss/v1/constraint_references", constraint_body, 201),
    "subscription": ("/dss/v1/subscriptions", lambda ext: subscription_body(ext[0]), 200),
}


@pytest.mark.parametrize("kind", sorted(SAME_ID_KINDS))
def test_racing_creates_of_the_same_id_never_both_succeed(
    server_url: str, signing_key: RSAPrivateKey, kind: str
) -> None:
    """The loser must learn the id is taken (409), not overwrite the winner."""
    collection, build, created = SAME_ID_KINDS[kind]
    a, b = _clients(server_url, 2)
    h = auth(signing_key, "uss1")
    try:
        for round_no in range(ROUNDS):
            path = f"{collection}/{new_id()}"
            body = build(_extents(round_no))
            first, second = _race(
                partial(a.put, path, json=body, headers=h),
                partial(b.put, path, json=body, headers=h),
            )
            statuses = sorted((first.status_code, second.status_code))
            assert statuses == [created, 409], f"round {round_no}: {first.text} / {second.text}"
    finally:
        a.close()
        b.close()


def test_racing_updates_with_the_same_ovn_never_both_succeed(
    server_url: str, signing_key: RSAPrivateKey
) -> None:
    a, b = _clients(server_url, 2)
    h = auth(signing_key, "uss1")
    try:
        for round_no in range(ROUNDS):
            oid = new_id()
            extents = _extents(round_no)
            created = a.put(f"{OIRS}/{oid}", json=oir_body(extents, implicit=False), headers=h)
            assert created.status_code == 201, created.text
            ovn = created.json()["operational_intent_reference"]["ovn"]
            body = oir_body(extents, implicit=False)
            first, second = _race(
                partial(a.put, f"{OIRS}/{oid}/{ovn}", json=body, headers=h),
                partial(b.put, f"{OIRS}/{oid}/{ovn}", json=body, headers=h),
            )
            statuses = sorted((first.status_code, second.status_code))
            assert statuses == [200, 409], f"round {round_no}: {first.text} / {second.text}"
            got = a.get(f"{OIRS}/{oid}", headers=h).json()["operational_intent_reference"]
            assert got["version"] == 2, f"round {round_no}"
    finally:
        a.close()
        b.close()


def test_racing_changes_never_hand_out_a_notification_index_twice(
    server_url: str, signing_key: RSAPrivateKey
) -> None:
    """Two intents in disjoint cells (so no lock orders them) both notify one subscription."""
    a, b = _clients(server_url, 2)
    h1, h2 = auth(signing_key, "uss1"), auth(signing_key, "uss2")
    watcher = new_id()
    wide = volume4d(half_deg=0.2, start=now(), duration=timedelta(hours=2))  # ~1600 km²
    r = a.put(f"/dss/v1/subscriptions/{watcher}", json=subscription_body(wide), headers=h1)
    assert r.status_code == 200, r.text
    # A grid of small squares 0.05° (~5 km) apart, all inside the watched area.
    spots = [
        (HUMPHREYS[0] - 0.175 + 0.05 * i, HUMPHREYS[1] - 0.175 + 0.05 * j)
        for i in range(8)
        for j in range(8)
    ]
    seen: list[int] = []
    try:
        for round_no in range(ROUNDS):
            bodies = [
                oir_body([volume4d(*spots[2 * round_no + k], half_deg=0.002)], implicit=False)
                for k in (0, 1)
            ]
            first, second = _race(
                partial(a.put, f"{OIRS}/{new_id()}", json=bodies[0], headers=h1),
                partial(b.put, f"{OIRS}/{new_id()}", json=bodies[1], headers=h2),
            )
            for r in (first, second):
                assert r.status_code == 201, f"round {round_no}: {r.text}"
                seen += [
                    s["notification_index"]
                    for group in r.json()["subscribers"]
                    for s in group["subscriptions"]
                    if s["subscription_id"] == watcher
                ]
    finally:
        a.close()
        b.close()
    assert sorted(seen) == list(range(1, 2 * ROUNDS + 1))
