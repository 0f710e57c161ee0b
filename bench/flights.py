#!/usr/bin/env python3
"""Plan-to-Accepted latency of a partner's flight, with 0 / 10 / 100 other flights around.

One node on loopback (uvicorn, SQLite or PostgreSQL), two partners with their own keys.
Before each row the other partner ("us-army") plans N short flights at the same time, in
the same area as ours but 70-630 m to the side (a grid, 62-100 m apart), so the DSS
returns those in our S2 cells (counted in the table), the planner checks every one, and
none conflicts. Then "rok-army"
plans a flight over HTTP (``POST /api/v1/flights``, a 10-waypoint route) and we time it
until its 201; it is ended (untimed) before the next, so each plan sees the same airspace.
The baseline is the same node with no other flight in the area (ratio column).

``--nodes 2`` (the issue's setting): a shared DSS and the two partners' own USS nodes on
loopback (each its own SQLite store and key). The US USS plans the N flights; each ROK
plan queries the DSS over HTTP, fetches every US flight's details from the US USS
(``GET /uss/v1/operational_intents/{id}``, in parallel), creates its intent in the remote
DSS and is stored; the US USS is notified (untimed, in the background).

Usage::

    .venv/bin/python bench/flights.py                    # sqlite, 0/10/100 others, 40 plans
    .venv/bin/python bench/flights.py --store postgres   # needs DRONECOOP_TEST_PG_URL
    .venv/bin/python bench/flights.py --nodes 2          # DSS + two USS nodes (SQLite)
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import partner_auth, write_partners_file

from bench.common import percentiles, print_table
from dronecoop.app import create_app
from dronecoop.settings import Settings
from dronecoop.store.migrate import upgrade

ROK, US = "rok-army", "us-army"
PLANNER = "dronecoop.role.planner"
CENTRE = (36.9628, 127.0311)  # Camp Humphreys


def route(lat0: float, lng0: float) -> list[list[float]]:
    """Ten waypoints zig-zagging ~1 km north-east."""
    return [[lat0 + 0.001 * i, lng0 + 0.001 * (i % 2), 60.0] for i in range(10)]


def serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def measure(
    db_url: str, others: int, plans: int, folder: Path, keys: dict[str, Any]
) -> tuple[list[float], int]:
    settings = Settings(
        db_url=db_url,
        partners_file=write_partners_file(folder, keys),
        auth_audiences=["localhost"],
        rate_limit_per_s=0,
        audit_seal_interval_s=1.0,
    )
    upgrade(db_url)
    server, thread, url = serve(settings)
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    rok = partner_auth(keys[ROK], ROK, "bench-planner", PLANNER)
    us = partner_auth(keys[US], US, "bench-planner", PLANNER)
    rok_operator = partner_auth(keys[ROK], ROK, "bench-operator", "dronecoop.role.operator")
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for k in range(others):  # beside ours, in its cells: same area, no conflict
                r = client.post("/api/v1/flights", json=other_flight(k, start), headers=us)
                assert r.status_code == 201, r.text
            around = client.post(  # sanity: the DSS does put them around our route
                "/dss/v1/operational_intent_references/query",
                json={"area_of_interest": _around(start)},
                headers=us,
            )
            found = len(around.json()["operational_intent_references"])
            samples = []
            for _ in range(plans):
                body = {
                    "waypoints": route(*CENTRE),
                    "home": [CENTRE[0], CENTRE[1], 16.0],
                    "start": start.isoformat(),
                    "ground_speed_mps": 10.0,
                }
                t0 = time.perf_counter()
                r = client.post("/api/v1/flights", json=body, headers=rok)
                samples.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 201, r.text
                ended = client.post(f"/api/v1/flights/{r.json()['id']}/end", headers=rok_operator)
                assert ended.status_code == 200, ended.text
            return samples, found
    finally:
        server.should_exit = True
        thread.join(30)


def other_flight(k: int, start: datetime) -> dict[str, Any]:
    """The k-th other flight: beside our route, in its cells, never in conflict with it."""
    lat = CENTRE[0] + 0.0009 * (k // 10)  # 100 m apart along our route
    lng = CENTRE[1] - 0.0008 - 0.0007 * (k % 10)  # 70 to 630 m to its west
    return {
        "waypoints": [[lat, lng, 60.0], [lat + 0.0001, lng, 60.0]],
        "home": [lat, lng, 16.0],
        "start": start.isoformat(),
        "ground_speed_mps": 10.0,
    }


def measure_two_nodes(others: int, plans: int, folder: Path) -> tuple[list[float], int]:
    from dronecoop.federation import Federation, LiveNode, bind, start_nodes
    from dronecoop.trust.roles import Role

    fed = Federation.create(folder, [("rok", "ROK"), ("us", "US")])
    socks = [bind() for _ in range(3)]
    port = [s.getsockname()[1] for s in socks]
    dss_url = f"http://127.0.0.1:{port[0]}"
    nodes = start_nodes(
        [
            LiveNode("dss", fed.dss_settings(port[0], rate_limit_per_s=0), socks[0]),
            *(
                LiveNode(p, fed.uss_settings(p, port[i], dss_url, rate_limit_per_s=0), socks[i])
                for i, p in ((1, "rok"), (2, "us"))
            ),
        ]
    )
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)

    tokens = {
        p: fed.partners[p].token(f"bench@{p}", Role.PLANNER, Role.OPERATOR) for p in ("rok", "us")
    }

    def crew(partner: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[partner]}"}

    try:
        with httpx.Client(timeout=60) as client:
            for k in range(others):
                r = client.post(
                    f"{nodes[2].url}/api/v1/flights",
                    json=other_flight(k, start),
                    headers=crew("us"),
                )
                assert r.status_code == 201, r.text
            samples = []
            for _ in range(plans):
                body = {
                    "waypoints": route(*CENTRE),
                    "home": [CENTRE[0], CENTRE[1], 16.0],
                    "start": start.isoformat(),
                    "ground_speed_mps": 10.0,
                }
                t0 = time.perf_counter()
                r = client.post(f"{nodes[1].url}/api/v1/flights", json=body, headers=crew("rok"))
                samples.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 201, r.text
                ended = client.post(
                    f"{nodes[1].url}/api/v1/flights/{r.json()['id']}/end", headers=crew("rok")
                )
                assert ended.status_code == 200, ended.text
            us_uss = fed.partners["us"].token("us-uss", "utm.strategic_coordination")
            around = client.post(
                f"{dss_url}/dss/v1/operational_intent_references/query",
                json={"area_of_interest": _around(start)},
                headers={"Authorization": f"Bearer {us_uss}"},
            )
            return samples, len(around.json()["operational_intent_references"])
    finally:
        for node in reversed(nodes):
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--others", default="0,10,100", help="comma-separated densities")
    parser.add_argument("--plans", type=int, default=40, help="timed plans per row")
    parser.add_argument("--nodes", type=int, choices=[1, 2], default=1, help="USS nodes")
    args = parser.parse_args()
    if args.nodes == 2:
        two_nodes(args)
        return
    keys = {p: rsa.generate_private_key(public_exponent=65537, key_size=2048) for p in (ROK, US)}
    rows, baseline = [], None
    for others in [int(x) for x in args.others.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if args.store == "sqlite":
                db_url = f"sqlite:///{folder / 'bench.sqlite3'}"
            else:
                db_url = _fresh_pg_database()
            try:
                samples, seen = measure(db_url, others, args.plans, folder, keys)
            finally:
                if args.store == "postgres":
                    _drop_pg_database(db_url)
            p = percentiles(samples)
            baseline = baseline or p.p50
            ratio = f"{p.p50 / baseline:.2f}x"
            rows.append((others, seen, f"{p.p50:.1f}", f"{p.p95:.1f}", f"{p.p99:.1f}", ratio))
    print_table(
        f"plan-to-Accepted over HTTP, one node, {args.store}, {args.plans} plans per row",
        ["other flights", "in our cells", "p50 ms", "p95 ms", "p99 ms", "p50 vs none"],
        rows,
        caption="each plan: 10 waypoints -> volumes -> DSS query -> every other flight checked "
        "-> operational intent created -> flight stored and audited",
    )


def two_nodes(args: argparse.Namespace) -> None:
    rows, baseline = [], None
    for others in [int(x) for x in args.others.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            samples, seen = measure_two_nodes(others, args.plans, Path(tmp))
        p = percentiles(samples)
        baseline = baseline or p.p50
        ratio = f"{p.p50 / baseline:.2f}x"
        rows.append(
            (
                others,
                seen,
                f"{samples[0]:.1f}",
                f"{p.p50:.1f}",
                f"{p.p95:.1f}",
                f"{p.p99:.1f}",
                ratio,
            )
        )
    print_table(
        f"plan-to-Accepted over HTTP, shared DSS + two USS nodes (SQLite), {args.plans} plans "
        "per row",
        ["peer flights", "in our cells", "first ms", "p50 ms", "p95 ms", "p99 ms", "p50 vs none"],
        rows,
        caption="each plan: volumes -> DSS query (HTTP) -> details of every peer flight from "
        "the peer USS (HTTP, parallel; the first plan fetches them all, later plans reuse "
        "those whose DSS version is unchanged) -> conflicts -> intent created in the DSS "
        "(HTTP) -> stored and audited. Three nodes share this process (and its GIL).",
    )


def _around(start: datetime) -> dict[str, Any]:
    """Our route's own outline (a box round it), during the first ten minutes: the DSS
    covers it with the same S2 cells as our volumes."""
    lat0, lng0 = CENTRE
    box = [(lat0 - 0.0003, lng0 - 0.0003), (lat0 + 0.0093, lng0 - 0.0003),
           (lat0 + 0.0093, lng0 + 0.0013), (lat0 - 0.0003, lng0 + 0.0013)]  # fmt: skip
    return {
        "volume": {
            "outline_polygon": {"vertices": [{"lat": a, "lng": b} for a, b in box]},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 500, "reference": "W84", "units": "M"},
        },
        "time_start": {"value": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "format": "RFC3339"},
        "time_end": {
            "value": (start + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "format": "RFC3339",
        },
    }


def _drop_pg_database(url: str) -> None:
    import psycopg

    admin, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_pg_database() -> str:
    import psycopg

    admin = os.environ.get("DRONECOOP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin = admin.replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_flights_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    main()
