#!/usr/bin/env python3
"""DSS throughput and latency over HTTP, against the InterUSS DSS's published figures.

Measures, per store (SQLite, PostgreSQL) and per number of live operational intents
(1k / 10k / 100k by default), with ``wrk`` as the load generator (bench/wrk/*.lua):

- ``healthz``            GET /healthz on the same server: the framework's ceiling;
- ``query``              POST .../operational_intent_references/query, a 1 km circle on a
                         preloaded intent;
- ``create non-overlap`` PUT .../operational_intent_references/{new id} (key check, implicit
                         subscription), each request in its own area;
- ``create overlap``     all requests in the same area, each in its own time window: the key
                         check passes while every request searches and locks the same cells;
- ``create conflict``    all requests in the same 4D volume with an empty key: the first one
                         is created (201), the rest collide (409);
- ``create ... @N/s``    the same creates offered at the goal's rate on a fixed schedule
                         (open loop): the latency goal is judged there. The other rows run
                         flat out (closed loop), where latency is mostly the connections'
                         own queue (p50 ~ connections / throughput).

The live intents are inserted directly through the store before each server starts (with
their implicit subscriptions), spread over their own band of latitudes; the measured
traffic never shares an S2 cell with them. Rows created by a workload are deleted before
the next one, so every workload sees the same N live intents.

The last column splits the CPU cores busy during each row: the server's processes, its
PostgreSQL backends, wrk (and py-spy with --profile), and everything else on the machine.
A row whose "other" exceeds 0.3 cores shared the machine with someone else: rerun it.

Usage::

    .venv/bin/python bench/dss.py                       # sqlite,postgres x 1k,10k,100k, 10 s
    .venv/bin/python bench/dss.py --quick               # 1k only, 3 s
    .venv/bin/python bench/dss.py --stores postgres --sizes 10000 --profile bench/results/prof

Needs ``wrk`` (``sudo apt-get install -y wrk``) and, for PostgreSQL, a server reachable
with a superuser URL (``--pg-url``, ``DRONECOOP_TEST_PG_URL``, or var/test-services.env as
written by ``bash scripts/services.sh``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
VENV_BIN = Path(sys.executable).parent

# -- baselines -----------------------------------------------------------------------------
# InterUSS DSS (github.com/interuss/dss), its own published load-test figures on a developer
# machine: create operational intent references at ~120-150 req/s with p95 25-45 ms when
# they do not overlap, and 5-25 req/s when they do.
INTERUSS_NONOVERLAP_RPS = (120.0, 150.0)
INTERUSS_OVERLAP_RPS = (5.0, 25.0)
INTERUSS_NONOVERLAP_P95_MS = (25.0, 45.0)
INTERUSS_NONOVERLAP_MID_RPS = sum(INTERUSS_NONOVERLAP_RPS) / 2  # 135
INTERUSS_OVERLAP_MID_RPS = sum(INTERUSS_OVERLAP_RPS) / 2  # 15
# Our goal on a 2-core machine with PostgreSQL.
GOAL_NONOVERLAP_RPS = 1000.0
GOAL_OVERLAP_RPS = 300.0
GOAL_P95_MS = 20.0

SCOPE = "utm.strategic_coordination"
TRAFFIC_MANAGER = "bench-uss"  # the token's sub: rows it creates are removed between runs
PRELOAD_MANAGER = "bench-preload"
PRELOAD_BASE_URL = "https://bench-preload.example/utm"
INTENT_HALF_M = 150.0  # intents are ~300 m squares (preloaded and measured alike)


@dataclass(frozen=True)
class Grid:
    """Spots ``lat0 + row*dlat, lng0 + col*dlng``, numbered row-major.

    0.035 deg of latitude is 3.9 km and 0.05 deg of longitude at least 3.5 km up to 45 N:
    300 m squares that far apart never share a level-13 S2 cell (< 2.5 km across).
    """

    lat0: float
    lng0: float
    dlat: float
    dlng: float
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def spot(self, i: int) -> tuple[float, float]:
        i %= self.size
        return self.lat0 + (i // self.cols) * self.dlat, self.lng0 + (i % self.cols) * self.dlng

    def env(self, prefix: str) -> dict[str, str]:
        return {
            f"BENCH_{prefix}_LAT0": repr(self.lat0),
            f"BENCH_{prefix}_LNG0": repr(self.lng0),
            f"BENCH_{prefix}_DLAT": repr(self.dlat),
            f"BENCH_{prefix}_DLNG": repr(self.dlng),
            f"BENCH_{prefix}_COLS": str(self.cols),
            f"BENCH_{prefix}_SIZE": str(self.size),
        }


# Preloaded intents: 25.0-31.0 N, 110-140 E (103,200 spots). Measured non-overlapping
# traffic: 32.0-45.0 N (222,600 spots). Overlapping traffic: one square at 31.5 N, 55 km
# from either band.
PRELOAD_GRID = Grid(lat0=25.0, lng0=110.0, dlat=0.035, dlng=0.05, rows=172, cols=600)
TRAFFIC_GRID = Grid(lat0=32.0, lng0=110.0, dlat=0.035, dlng=0.05, rows=371, cols=600)
HOT_SPOT = (31.5, 125.0)


@dataclass(frozen=True)
class Workload:
    name: str
    script: str
    mode: str = ""
    goal_rps: float | None = None  # None: no goal stated for this workload
    interuss_rps: float | None = None
    rate: float = 0.0  # offered requests/s (open loop); 0: as fast as the server answers


HEALTHZ = Workload("healthz", "healthz.lua")
QUERY = Workload("query", "query.lua")
CREATE_NONOVERLAP = Workload(
    "create non-overlap", "create.lua", "nonoverlap", GOAL_NONOVERLAP_RPS,
    INTERUSS_NONOVERLAP_MID_RPS,
)  # fmt: skip
CREATE_OVERLAP = Workload(
    "create overlap", "create.lua", "overlap", GOAL_OVERLAP_RPS,
    INTERUSS_OVERLAP_MID_RPS,
)  # fmt: skip
CREATE_CONFLICT = Workload(
    "create conflict", "create.lua", "conflict", None, INTERUSS_OVERLAP_MID_RPS
)
# The latency goal holds at the goal's throughput: the same traffic offered at that rate.
CREATE_NONOVERLAP_AT_GOAL = Workload(
    f"create non-overlap @{GOAL_NONOVERLAP_RPS:.0f}/s", "create.lua", "nonoverlap",
    GOAL_NONOVERLAP_RPS, rate=GOAL_NONOVERLAP_RPS,
)  # fmt: skip
CREATE_OVERLAP_AT_GOAL = Workload(
    f"create overlap @{GOAL_OVERLAP_RPS:.0f}/s", "create.lua", "overlap", GOAL_OVERLAP_RPS,
    rate=GOAL_OVERLAP_RPS,
)  # fmt: skip
WORKLOADS = (
    HEALTHZ, QUERY, CREATE_NONOVERLAP, CREATE_NONOVERLAP_AT_GOAL, CREATE_OVERLAP,
    CREATE_OVERLAP_AT_GOAL, CREATE_CONFLICT,
)  # fmt: skip
# A paced row counts as keeping up when it achieved this share of the offered rate.
KEPT_UP = 0.97
# Paced rows keep connections to spare, so that the schedule, not a busy connection,
# decides when a request goes (an open loop, as clients arriving independently).
PACED_CONNECTIONS = 64


@dataclass
class Result:
    store: str
    live: int
    workload: str
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    ok_2xx: int
    conflict_409: int
    other: int
    socket_errors: int
    status: dict[str, int] = field(default_factory=dict)
    sample: str = ""
    vs_healthz: float | None = None
    vs_interuss: float | None = None
    goal: bool | None = None
    # CPU cores busy on average during the run: the server's processes, the database's
    # backends for this run, wrk, and everything else on the machine (noise).
    cpu_server: float = 0.0
    cpu_db: float = 0.0
    cpu_wrk: float = 0.0
    cpu_other: float = 0.0
    # A paced row measured several times (--paced-runs): every run's p95, in run order;
    # the row's other figures are those of the run with the median p95.
    p95_runs_ms: list[float] = field(default_factory=list)


# Cores busy outside the server, its database backends and wrk above which a row is noisy.
NOISE_CORES = 0.3


# -- CPU accounting -------------------------------------------------------------------------
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def process_cpu_s(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` that still runs."""
    used: dict[int, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return used


def pgrep(*args: str) -> list[int]:
    pgrep_bin = shutil.which("pgrep")
    if pgrep_bin is None:
        return []
    out = subprocess.run(  # noqa: S603 (our own command line)
        [pgrep_bin, *args], capture_output=True, text=True, check=False
    )
    return sorted(int(p) for p in out.stdout.split())


@dataclass
class CpuMeter:
    """Cores used by the server, the database backends and the rest, over a run."""

    server: Server

    def __post_init__(self) -> None:
        self.t = time.monotonic()
        self.busy = machine_busy_s()
        self.children = os.times().children_user + os.times().children_system
        self.srv = process_cpu_s(self.server.pids())
        self.db = process_cpu_s(self.server.db_pids())

    @staticmethod
    def _delta(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(v - before.get(pid, 0.0) for pid, v in after.items())

    def stop(self, result: Result) -> None:
        wall = max(1e-6, time.monotonic() - self.t)
        times = os.times()
        wrk = (times.children_user + times.children_system - self.children) / wall
        srv = self._delta(self.srv, process_cpu_s(self.server.pids())) / wall
        db = self._delta(self.db, process_cpu_s(self.server.db_pids())) / wall
        busy = (machine_busy_s() - self.busy) / wall
        result.cpu_server, result.cpu_db, result.cpu_wrk = srv, db, wrk
        result.cpu_other = max(0.0, busy - srv - db - wrk)


# -- small helpers (percentiles come from wrk itself) --------------------------------------
def fmt_int(n: int) -> str:
    return f"{n:,}"


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wire_time(moment: datetime) -> dict[str, str]:
    return {"value": moment.isoformat().replace("+00:00", "Z"), "format": "RFC3339"}


def square(lat: float, lng: float, half_m: float) -> dict[str, Any]:
    dlat = half_m / 111_320.0
    dlng = dlat / math.cos(math.radians(lat))
    return {
        "vertices": [
            {"lat": lat - dlat, "lng": lng - dlng},
            {"lat": lat - dlat, "lng": lng + dlng},
            {"lat": lat + dlat, "lng": lng + dlng},
            {"lat": lat + dlat, "lng": lng - dlng},
        ]
    }


def extent(lat: float, lng: float, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "volume": {
            "outline_polygon": square(lat, lng, INTENT_HALF_M),
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"},
        },
        "time_start": wire_time(start),
        "time_end": wire_time(end),
    }


# -- databases -----------------------------------------------------------------------------
def pg_admin_url(explicit: str | None) -> str:
    """A superuser URL: --pg-url, DRONECOOP_TEST_PG_URL, or var/test-services.env."""
    if explicit:
        return explicit
    if os.environ.get("DRONECOOP_TEST_PG_URL"):
        return os.environ["DRONECOOP_TEST_PG_URL"]
    env_file = ROOT / "var" / "test-services.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "DRONECOOP_TEST_PG_URL" and value.strip():
                return value.strip()
    raise SystemExit(
        "no PostgreSQL URL: run `bash scripts/services.sh`, set DRONECOOP_TEST_PG_URL or pass "
        "--pg-url postgresql://postgres@127.0.0.1:5432/postgres (or use --stores sqlite)"
    )


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` as libpq understands it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")  # noqa: S108 - where libpq looks


def local_socket_dir(url: str) -> str | None:
    """The folder of PostgreSQL's Unix socket, if ``url``'s server runs on this machine."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if "host" in parsed.query:  # already a socket (or a host list): leave it alone
        return None
    if parsed.host not in _LOCAL_HOSTS:
        return None
    port = parsed.port or 5432
    return next((d for d in _SOCKET_DIRS if Path(d, f".s.PGSQL.{port}").exists()), None)


def server_url(url: str, transport: str) -> tuple[str, str]:
    """``url`` as the server should use it, and how it reaches PostgreSQL: over the local
    Unix socket where ``transport`` is 'unix', or 'auto' and there is one (a co-located
    deployment's natural choice: 10-15 % less CPU a create than loopback TCP, both sides)."""
    from sqlalchemy.engine import make_url

    if transport == "tcp":
        return url, "TCP"
    directory = local_socket_dir(url)
    if directory is None:
        if transport == "unix":
            raise SystemExit(f"--pg-transport unix: no local PostgreSQL socket for {url}")
        return url, "TCP"
    parsed = make_url(url)
    query = {"host": directory, "port": str(parsed.port or 5432)}
    socket_url = parsed._replace(host=None, port=None).set(query=query)  # set() keeps None
    return socket_url.render_as_string(hide_password=False), "Unix socket"


@contextlib.contextmanager
def database(
    store: str, size: int, workdir: Path, pg_url: str | None, transport: str = "tcp"
) -> Iterator[str]:
    """A fresh, empty database URL for one (store, size); removed afterwards."""
    if store == "sqlite":
        path = workdir / f"dss-{size}.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = libpq_url(pg_admin_url(pg_url))
    name = f"dronecoop_bench_{os.getpid()}_{size}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        yield server_url(url, transport)[0]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def preload(url: str, n: int, console: Console, batch: int = 2000) -> float:
    """Insert ``n`` live intents (each with its implicit subscription); returns seconds."""
    from dronecoop.airspace import wire
    from dronecoop.airspace.dss import area_of, new_ovn
    from dronecoop.airspace.model import (
        EntityID,
        ManagerID,
        OperationalIntentRef,
        OperationalIntentState,
        Subscription,
        SubscriptionID,
    )
    from dronecoop.store.airspace_sql import SqlAirspaceStore
    from dronecoop.store.migrate import upgrade

    if n > PRELOAD_GRID.size:
        raise SystemExit(f"at most {PRELOAD_GRID.size:,} live intents fit the preload grid")
    upgrade(url)
    started = time.perf_counter()
    store = SqlAirspaceStore.from_url(url)
    rng = random.Random(n)
    now = datetime.now(UTC)
    manager = ManagerID(PRELOAD_MANAGER)
    try:
        for first in range(0, n, batch):
            entities = []
            for i in range(first, min(n, first + batch)):
                lat, lng = PRELOAD_GRID.spot(i)
                # Live now or later today: start within the next 23 h, 30-60 min long.
                start = now + timedelta(minutes=rng.uniform(2, 23 * 60))
                end = start + timedelta(minutes=rng.uniform(30, 60))
                volumes = wire.parse_volumes([extent(lat, lng, start, end)], "extents")
                footprint = area_of(volumes).footprint()
                entity_id = EntityID(str(uuid.uuid4()))
                sub = Subscription(
                    id=SubscriptionID(str(uuid.uuid4())),
                    manager=manager,
                    version=new_ovn("sub", now),
                    uss_base_url=PRELOAD_BASE_URL,
                    notification_index=0,
                    notify_for_operational_intents=True,
                    notify_for_constraints=False,
                    implicit=True,
                    footprint=footprint,
                    updated_at=now,
                )
                ref = OperationalIntentRef(
                    id=entity_id,
                    manager=manager,
                    version=1,
                    state=OperationalIntentState.ACCEPTED,
                    ovn=new_ovn(entity_id, now),
                    uss_base_url=PRELOAD_BASE_URL,
                    subscription_id=sub.id,
                    footprint=footprint,
                    updated_at=now,
                )
                entities.append((sub, ref))

            def work(tx: Any, entities: list[tuple[Subscription, OperationalIntentRef]]) -> None:
                for sub, ref in entities:
                    tx.put_subscription(sub, None)
                    tx.put_operational_intent(ref, None)

            store.write(lambda tx, entities=entities: work(tx, entities))  # type: ignore[misc]
            if n >= 20_000 and (first // batch) % 10 == 9:
                console.print(f"    preloaded {first + batch:,} / {n:,}", style="dim")
    finally:
        store.close()
    analyze(url)
    return time.perf_counter() - started


TRAFFIC_TABLES = (
    ("scd_operational_intents", "scd_operational_intent_cells"),
    ("scd_subscriptions", "scd_subscription_cells"),
)


def remove_traffic(url: str, settle_s: float = 10.0) -> int:
    """Delete what the measured traffic created; the preloaded intents stay.

    Requests still in flight when wrk stops are completed by the server afterwards: wait
    until the traffic's row count stops changing, so that none commits after the delete.
    """
    from sqlalchemy import text

    from dronecoop.store.engine import build_engine

    engine = build_engine(url)
    removed = 0
    count_sql = text("SELECT count(*) FROM scd_operational_intents WHERE manager = :m")
    try:
        deadline = time.monotonic() + settle_s
        previous = -1
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                count = conn.execute(count_sql, {"m": TRAFFIC_MANAGER}).scalar_one()
            if count == previous:
                break
            previous = count
            time.sleep(0.3)
        with engine.begin() as conn:
            for table, cells in TRAFFIC_TABLES:
                # Table names are module constants; the manager is a bound parameter.
                conn.execute(
                    text(
                        f"DELETE FROM {cells} WHERE entity_id IN "  # noqa: S608
                        f"(SELECT id FROM {table} WHERE manager = :m)"
                    ),
                    {"m": TRAFFIC_MANAGER},
                )
                result = conn.execute(
                    text(f"DELETE FROM {table} WHERE manager = :m"),  # noqa: S608
                    {"m": TRAFFIC_MANAGER},
                )
                removed += result.rowcount
    finally:
        engine.dispose()
    analyze(url)
    return removed


def analyze(url: str) -> None:
    """PostgreSQL: vacuum and analyse, as autovacuum would have on a long-running node."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for table, cells in TRAFFIC_TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
            conn.execute(f"VACUUM ANALYZE {cells}")


# -- auth ----------------------------------------------------------------------------------
def bench_key(workdir: Path) -> tuple[Any, Path]:
    """A signing key and the public key file the server must trust."""
    from cryptography.hazmat.primitives import serialization

    from dronecoop.auth.devkeys import load_or_create_private_key

    key = load_or_create_private_key(workdir / "bench-signing-key.pem")
    public = workdir / "bench-signing-key.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, public


def bench_token(key: Any) -> str:
    """A fresh token for TRAFFIC_MANAGER (the DSS accepts at most 1 h of lifetime)."""
    from dronecoop.auth.devkeys import mint_token

    return mint_token(
        key, sub=TRAFFIC_MANAGER, scopes=[SCOPE], audience="localhost", lifetime_s=1800
    )


# -- the server ----------------------------------------------------------------------------
class Server:
    """``dronecoop serve`` in its own process group, on a free loopback port."""

    def __init__(
        self,
        store: str,
        url: str,
        workers: int,
        public_key: Path,
        log: Path,
        launcher: str = "cli",
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.url = url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.public_key = public_key
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRONECOOP_")}
        env |= {
            # With --workers > 1 uvicorn builds the app in each worker from the environment.
            "DRONECOOP_DB_URL": self.url,
            "DRONECOOP_HOST": "127.0.0.1",
            "DRONECOOP_PORT": str(self.port),
            "DRONECOOP_AUTH_PUBLIC_KEY_FILES": str(self.public_key),
            "DRONECOOP_AUTH_AUDIENCES": "localhost",
            # One bench client sends thousands of requests a second: measure the DSS, not
            # the per-caller rate limit that would (rightly) throttle it.
            "DRONECOOP_RATE_LIMIT_PER_S": "0",
        }
        cmd = [
            str(VENV_BIN / "dronecoop"), "serve", "--no-dev", "--host", "127.0.0.1",
            "--port", str(self.port), "--db-url", self.url, "--workers", str(self.workers),
        ]  # fmt: skip
        if self.launcher == "uvicorn":
            # The same app without the CLI's choices (one worker: INFO access log).
            cmd = [
                str(VENV_BIN / "python"), "-m", "uvicorn", "dronecoop.app:create_app",
                "--factory", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.workers), "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (our own command line)
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"server did not answer /healthz in {timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def pids(self) -> list[int]:
        """The server's process and its workers."""
        return [] if self.proc is None else pgrep("-g", str(self.proc.pid))

    def db_pids(self) -> list[int]:
        """PostgreSQL backends serving this server's database (none for SQLite)."""
        if not self.url.startswith("postgresql"):
            return []
        from sqlalchemy.engine import make_url

        return pgrep("-f", f"^postgres: .* {make_url(self.url).database} ")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


# -- wrk -----------------------------------------------------------------------------------
def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(
            "wrk is not installed: `sudo apt-get install -y wrk` (Debian/Ubuntu) or "
            "`brew install wrk` (macOS), then run this again"
        )
    return wrk


@dataclass(frozen=True)
class LoadConfig:
    wrk: str
    threads: int
    connections: int
    duration_s: float
    key: Any  # signs a fresh token for each wrk run
    profile_mode: str = "gil"


def run_wrk(
    cfg: LoadConfig, server: Server, workload: Workload, live: int, duration_s: float
) -> dict[str, Any]:
    env = os.environ | {
        "BENCH_TOKEN": bench_token(cfg.key),
        "BENCH_THREADS": str(cfg.threads),
        "BENCH_SEED": str(secrets.randbelow(1_000_000_000)),
        "BENCH_T0": str(int(time.time())),  # time windows start 10 min after this
        "BENCH_MODE": workload.mode,
        "BENCH_RATE": repr(workload.rate),
        "BENCH_HOT_LAT": repr(HOT_SPOT[0]),
        "BENCH_HOT_LNG": repr(HOT_SPOT[1]),
        "BENCH_PRELOAD_N": str(live),
        **TRAFFIC_GRID.env("TRAFFIC"),
        **PRELOAD_GRID.env("PRELOAD"),
    }
    connections = max(cfg.connections, PACED_CONNECTIONS) if workload.rate else cfg.connections
    cmd = [
        cfg.wrk, "-t", str(cfg.threads), "-c", str(connections),
        "-d", f"{max(1, round(duration_s))}s", "--timeout", "10s",
        "-s", str(WRK_DIR / workload.script), server.base,
    ]  # fmt: skip
    out = subprocess.run(  # noqa: S603 (our own command line)
        cmd, env=env, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return parsed
    raise RuntimeError(f"wrk gave no result (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")


def to_result(store: str, live: int, workload: Workload, raw: dict[str, Any]) -> Result:
    status = {str(k): int(v) for k, v in raw["status"].items()}
    ok = sum(v for k, v in status.items() if k.startswith("2"))
    conflict = status.get("409", 0)
    errors = raw["errors"]
    return Result(
        store=store,
        live=live,
        workload=workload.name,
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        requests=raw["requests"],
        ok_2xx=ok,
        conflict_409=conflict,
        other=raw["requests"] - ok - conflict,
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        status=status,
        sample=raw.get("sample", ""),
    )


# -- profiling (optional) ------------------------------------------------------------------
@contextlib.contextmanager
def profiling(
    server: Server, out: Path | None, duration_s: float, mode: str = "gil"
) -> Iterator[None]:
    """py-spy records the server's processes while the block runs (collapsed stacks)."""
    if out is None:
        yield
        return
    py_spy = shutil.which("py-spy", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    if py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in server.pids():
        cmd = [
            py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
            "--nonblocking", "--duration", str(max(1, round(duration_s))),
            "--output", f"{out}.{pid}.txt",
        ]  # fmt: skip
        if mode == "gil":
            cmd.append("--gil")  # Python CPU time: only the thread holding the GIL
        else:
            cmd.append("--idle")  # wall time: waiting on the database and locks included
        procs.append(
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        )
    try:
        yield
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


_LINE = re.compile(r":\d+\)$")


@dataclass
class Profile:
    """py-spy samples per function (line numbers dropped) and per package."""

    total: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    packages: Counter[str] = field(default_factory=Counter)


def package_of(frame: str) -> str:
    """``f (psycopg/cursor.py)`` -> psycopg; ``f (threading.py)`` -> threading."""
    where = frame.rpartition(" (")[2].rstrip(")")
    where = where.removeprefix("<frozen ").rstrip(">")
    return where.split("/")[0].removesuffix(".py") or "?"


def summarize_profiles(files: list[Path]) -> Profile:
    """Self and inclusive sample counts per function over py-spy collapsed-stack files."""
    prof = Profile()
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [
                _LINE.sub(")", f)
                for f in stack.split(";")
                if f and not f.startswith(("process ", "thread "))
            ]
            if not frames:
                continue
            prof.total += count
            prof.own[frames[-1]] += count
            prof.packages[package_of(frames[-1])] += count
            for frame in set(frames):
                prof.inclusive[frame] += count
    return prof


# -- the run -------------------------------------------------------------------------------
def measure_one(
    cfg: LoadConfig,
    server: Server,
    url: str,
    workload: Workload,
    size: int,
    prof: Path | None,
    console: Console,
) -> Result:
    """One workload; measured again if the server was stopped from outside meanwhile."""
    for _ in range(3):
        if not server.alive():
            server.start()
        try:
            with profiling(server, prof, cfg.duration_s, cfg.profile_mode):
                meter = CpuMeter(server)
                raw = run_wrk(cfg, server, workload, size, cfg.duration_s)
        except RuntimeError:
            if server.alive():
                raise
        if server.alive():
            result = to_result(server.store, size, workload, raw)
            meter.stop(result)
            if workload.goal_rps is not None and workload.rate:
                # At the goal's rate: kept up with it, and answered within the p95 goal.
                result.goal = result.rps >= KEPT_UP * workload.rate and result.p95_ms < GOAL_P95_MS
            elif workload.goal_rps is not None:  # flat out: the throughput goal
                result.goal = result.rps >= workload.goal_rps
            if workload.interuss_rps is not None:
                result.vs_interuss = result.rps / workload.interuss_rps
            return result
        console.print(
            f"  [yellow]the server stopped during {workload.name} (exit status "
            f"{server.returncode()}; stopped by another process?): restarting it and measuring "
            f"again[/yellow]\n[dim]{server.log_tail(5)}[/dim]"
        )
        if workload.script == "create.lua":
            remove_traffic(url)
    raise RuntimeError(f"the server kept stopping during {workload.name}; see {server.log_path}")


def measure_again(
    cfg: LoadConfig, server: Server, url: str, workload: Workload, size: int, console: Console
) -> Result:
    """Another run of a create workload, on the same live intents as the first."""
    if workload.script == "create.lua":
        remove_traffic(url)
    return measure_one(cfg, server, url, workload, size, None, console)


def median_run(runs: list[Result]) -> Result:
    """The run with the median p95 (the worse middle one of an even count), holding every
    run's p95; the goal holds only if it holds for that run."""
    chosen = sorted(runs, key=lambda r: r.p95_ms)[len(runs) // 2]
    chosen.p95_runs_ms = [r.p95_ms for r in runs]
    return chosen


def measure(
    store: str,
    size: int,
    args: argparse.Namespace,
    cfg: LoadConfig,
    workdir: Path,
    public_key: Path,
    console: Console,
) -> list[Result]:
    results: list[Result] = []
    with database(store, size, workdir, args.pg_url, args.pg_transport) as url:
        load = os.getloadavg()[0]
        console.print(
            f"[bold]{store}[/bold], {size:,} live intents: preloading… (load average {load:.1f})"
        )
        seconds = preload(url, size, console)
        console.print(f"  preloaded in {seconds:.1f} s ({size / seconds:,.0f} intents/s)")
        workers = args.pg_workers if store == "postgres" else 1
        log = workdir / f"server-{store}-{size}.log"
        server = Server(store, url, workers, public_key, log, args.launcher)
        try:
            server.start()
            # Warm up: imports, token cache, statement plans, and connection pools grown
            # to what the paced rows' 64 connections use (a server in steady state has
            # its pools; opening connections mid-row showed up as a tail of its own).
            run_wrk(cfg, server, CREATE_NONOVERLAP, size, min(2.0, cfg.duration_s))
            run_wrk(cfg, server, CREATE_NONOVERLAP_AT_GOAL, size, min(2.0, cfg.duration_s))
            run_wrk(cfg, server, QUERY, size, 1.0)
            remove_traffic(url)
            healthz_rps: float | None = None
            for workload in WORKLOADS:
                wanted = not args.workloads or any(
                    workload.name == w or workload.name.startswith(w + " ") for w in args.workloads
                )
                if not wanted and workload is not HEALTHZ:
                    continue
                prof = None
                if args.profile is not None and workload is not HEALTHZ:
                    slug = re.sub(r"[^\w@.-]+", "-", workload.name)  # '@1000/s' is no folder
                    prof = args.profile / f"{store}-{size}-{slug}"
                result = measure_one(cfg, server, url, workload, size, prof, console)
                if workload.rate and args.paced_runs > 1:
                    result = median_run(
                        [result]
                        + [
                            measure_again(cfg, server, url, workload, size, console)
                            for _ in range(args.paced_runs - 1)
                        ]
                    )
                if workload is HEALTHZ:
                    healthz_rps = result.rps
                elif healthz_rps:
                    result.vs_healthz = result.rps / healthz_rps
                results.append(result)
                runs = (
                    f" (median of {', '.join(f'{p:.1f}' for p in result.p95_runs_ms)})"
                    if len(result.p95_runs_ms) > 1
                    else ""
                )
                console.print(
                    f"  {workload.name:20} {result.rps:7,.0f} req/s  p95 {result.p95_ms:6.1f} ms"
                    f"{runs}"
                    f"  2xx {result.ok_2xx:,}  409 {result.conflict_409:,}  other {result.other:,}"
                    f"  cores srv {result.cpu_server:.1f} db {result.cpu_db:.1f} "
                    f"wrk {result.cpu_wrk:.1f} other {result.cpu_other:.1f}"
                )
                if result.other or result.socket_errors:
                    console.print(
                        f"    [yellow]unexpected: {result.status} socket errors "
                        f"{result.socket_errors}; sample: {result.sample[:300]}[/yellow]"
                    )
                if workload.script == "create.lua":
                    remove_traffic(url)
        except Exception:
            tail = server.log_tail()
            if tail:
                console.print(f"[dim]server log ({server.log_path}):\n{tail}[/dim]")
            raise
        finally:
            server.stop()
    return results


def table(results: list[Result], cfg: LoadConfig, args: argparse.Namespace) -> Table:
    t = Table(
        title=f"dronecoop DSS over HTTP — wrk -t{cfg.threads} -c{cfg.connections}, "
        f"{cfg.duration_s:g} s per row, {os.cpu_count()} CPUs; PostgreSQL "
        f"(over {getattr(args, 'pg_via', 'TCP')}) with "
        f"{args.pg_workers} workers, SQLite with 1; server: "
        + ("dronecoop serve" if args.launcher == "cli" else "uvicorn, no access log"),
        caption="non-overlap: each request in its own area; overlap: one area, disjoint time "
        "windows (key check passes, same cells searched and locked); conflict: one area and "
        "time, empty key (first 201, then 409).\n"
        f"vs InterUSS: req/s over InterUSS's published midpoint "
        f"({INTERUSS_NONOVERLAP_MID_RPS:.0f} req/s non-overlapping, "
        f"{INTERUSS_OVERLAP_MID_RPS:.0f} req/s overlapping; their p95 "
        f"{INTERUSS_NONOVERLAP_P95_MS[0]:.0f}-{INTERUSS_NONOVERLAP_P95_MS[1]:.0f} ms). "
        f"goal: >= {GOAL_NONOVERLAP_RPS:.0f} req/s non-overlapping, "
        f">= {GOAL_OVERLAP_RPS:.0f} overlapping (rows run flat out: {cfg.connections} "
        f"connections, each sending as soon as answered), and p95 < {GOAL_P95_MS:.0f} ms at "
        "that rate (rows @N/s: N requests/s offered on a fixed schedule over up to "
        f"{PACED_CONNECTIONS} connections, which must be kept up with, >= {KEPT_UP:.0%}). "
        f"Flat out, latency is the {cfg.connections} connections' queue: "
        "p50 ~ connections / throughput. p95 runs: a paced row runs --paced-runs times "
        "(one run's p95 varies several-fold on a shared VM); it shows its median run, "
        "judged on that run.",
    )
    for name in ("store", "live", "workload"):
        t.add_column(name)
    for name in (
        "req/s", "p50 ms", "p95 ms", "p95 runs", "p99 ms", "2xx", "409", "other",
        "vs healthz", "vs InterUSS",
    ):  # fmt: skip
        t.add_column(name, justify="right")
    t.add_column("goal", justify="center")
    t.add_column("cores: srv/db/wrk/other", justify="right")
    previous: tuple[str, int] | None = None
    for r in results:
        if previous is not None and previous != (r.store, r.live):
            t.add_section()
        previous = (r.store, r.live)
        goal = "—" if r.goal is None else "[green]✓[/green]" if r.goal else "[red]✗[/red]"
        other = fmt_int(r.other + r.socket_errors)
        t.add_row(
            r.store,
            fmt_int(r.live),
            r.workload,
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p95_ms:.1f}",
            (
                f"{min(r.p95_runs_ms):.1f}-{max(r.p95_runs_ms):.1f}"
                if len(r.p95_runs_ms) > 1
                else "—"
            ),
            f"{r.p99_ms:.1f}",
            fmt_int(r.ok_2xx),
            fmt_int(r.conflict_409),
            f"[red]{other}[/red]" if other != "0" else other,
            fmt_ratio(r.vs_healthz),
            fmt_ratio(r.vs_interuss),
            goal,
            f"{r.cpu_server:.1f}/{r.cpu_db:.1f}/{r.cpu_wrk:.1f}/"
            + (
                f"[yellow]{r.cpu_other:.1f}[/yellow]" if r.cpu_other > 0.3 else f"{r.cpu_other:.1f}"
            ),
        )
    return t


def profile_report(directory: Path, console: Console, mode: str, top: int = 20) -> None:
    groups: dict[str, list[Path]] = {}
    for path in sorted(directory.glob("*.txt")):
        groups.setdefault(path.name.split(".")[0], []).append(path)
    what = "samples of threads holding the GIL" if mode == "gil" else "samples of busy threads"
    for name, files in groups.items():
        prof = summarize_profiles(files)
        if not prof.total:
            continue
        t = Table(title=f"py-spy: {name} ({prof.total:,} {what}; server processes together)")
        t.add_column("self %", justify="right")
        t.add_column("function (self time)")
        t.add_column("incl %", justify="right")
        t.add_column("dronecoop function (inclusive)")
        t.add_column("self %", justify="right")
        t.add_column("package")
        own = prof.own.most_common(top)
        ours = [(f, n) for f, n in prof.inclusive.most_common() if "(dronecoop/" in f][:top]
        packages = prof.packages.most_common(top)
        for i in range(max(len(own), len(ours), len(packages))):
            row: list[str] = []
            for pairs in (own, ours, packages):
                if i < len(pairs):
                    row += [f"{100 * pairs[i][1] / prof.total:.1f}", pairs[i][0][:80]]
                else:
                    row += ["", ""]
            t.add_row(*row)
        console.print(t)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stores", default="sqlite,postgres", help="sqlite,postgres (default both)")
    p.add_argument("--sizes", default="1000,10000,100000", help="live intents, comma-separated")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per workload (10)")
    p.add_argument("--threads", "-t", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", "-c", type=int, default=16, help="wrk connections (16)")
    p.add_argument("--pg-workers", type=int, default=2, help="server workers on PostgreSQL (2)")
    p.add_argument(
        "--launcher",
        choices=("cli", "uvicorn"),
        default="cli",
        help="cli: `dronecoop serve` (default); uvicorn: `python -m uvicorn "
        "dronecoop.app:create_app --factory --no-access-log`",
    )
    p.add_argument(
        "--paced-runs",
        type=int,
        default=3,
        help="runs of each paced (@N/s) row; its figures are the median-p95 run's (3): one "
        "run's p95 varies several-fold on a shared VM (--profile records the first run)",
    )
    p.add_argument(
        "--pg-transport",
        choices=("auto", "unix", "tcp"),
        default="auto",
        help="how the server reaches PostgreSQL: auto = its Unix socket when the URL names "
        "this machine and the socket exists, else TCP (auto)",
    )
    p.add_argument("--pg-url", help="PostgreSQL superuser URL (default: DRONECOOP_TEST_PG_URL)")
    p.add_argument(
        "--workloads",
        help="subset, comma-separated names or their first words: query,create or "
        "'create overlap' (that row and its paced row); default all, healthz always",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 1000 live intents, 3 s")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument(
        "--profile",
        type=Path,
        help="record the server with py-spy during each workload into this directory and "
        "print its hot spots (perturbs the numbers a little)",
    )
    p.add_argument(
        "--profile-mode",
        choices=("gil", "wall"),
        default="gil",
        help="gil: Python CPU time (threads holding the GIL); wall: every thread, idle too",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.duration, args.paced_runs = "1000", 3.0, 1
    if args.paced_runs < 1:
        p.error("--paced-runs must be at least 1")
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for store in args.stores:
        if store not in ("sqlite", "postgres"):
            p.error(f"unknown store {store!r} (sqlite, postgres)")
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.workloads = (
        {w.strip() for w in args.workloads.split(",") if w.strip()} if args.workloads else None
    )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal or console.width < 150:
        console = Console(width=190)  # the table needs room; pipes and CI get it too
    wrk = find_wrk()
    sys.path.insert(0, str(ROOT / "src"))

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="dronecoop-bench-") as tmp:
        workdir = Path(tmp)
        key, public_key = bench_key(workdir)
        cfg = LoadConfig(
            wrk=wrk,
            threads=args.threads,
            connections=args.connections,
            duration_s=args.duration,
            key=key,
            profile_mode=args.profile_mode,
        )
        args.pg_via = (
            server_url(pg_admin_url(args.pg_url), args.pg_transport)[1]
            if "postgres" in args.stores
            else "-"
        )
        try:
            for store in args.stores:
                for size in args.sizes:
                    results += measure(store, size, args, cfg, workdir, public_key, console)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: servers stopped, databases removed[/yellow]")
            if not results:
                return 130
    console.print(table(results, cfg, args))
    noisy = [r for r in results if r.cpu_other > NOISE_CORES]
    if noisy:
        console.print(
            f"[yellow]{len(noisy)} of {len(results)} rows ran while other processes kept more "
            f"than {NOISE_CORES} cores busy (last column): their numbers are low and noisy; "
            "run again on a quiet machine.[/yellow]"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
        console.print(f"results written to {args.json}")
    if args.profile is not None:
        profile_report(args.profile, console, args.profile_mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
