"""bench/dss.py's judgement of paced rows: the median run's figures, every run's p95 kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import dss
from bench.dss import Result, median_run, parse_args
from sqlalchemy.engine import make_url


def run(p95_ms: float) -> Result:
    return Result(
        store="postgres",
        live=10_000,
        workload="create non-overlap @1000/s",
        rps=1000.0,
        p50_ms=p95_ms / 4,
        p95_ms=p95_ms,
        p99_ms=p95_ms * 2,
        max_ms=p95_ms * 3,
        requests=10_000,
        ok_2xx=10_000,
        conflict_409=0,
        other=0,
        socket_errors=0,
    )


def test_a_paced_row_reports_its_median_run_and_every_runs_p95() -> None:
    chosen = median_run([run(38.3), run(5.6), run(25.9)])
    assert chosen.p95_ms == 25.9
    assert chosen.p50_ms == 25.9 / 4  # the figures of that one run, not a mix
    assert chosen.p95_runs_ms == [38.3, 5.6, 25.9]


def test_an_even_number_of_runs_is_judged_on_the_worse_middle_run() -> None:
    assert median_run([run(10.0), run(30.0), run(20.0), run(40.0)]).p95_ms == 30.0


def test_a_quick_run_measures_each_paced_row_once() -> None:
    assert parse_args(["--quick"]).paced_runs == 1
    assert parse_args([]).paced_runs == 3


def test_the_server_reaches_a_local_postgresql_through_its_socket_when_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".s.PGSQL.5433").touch()
    monkeypatch.setattr(dss, "_SOCKET_DIRS", (str(tmp_path),))
    url, via = dss.server_url("postgresql://postgres@127.0.0.1:5433/db", "auto")
    assert via == "Unix socket"
    assert make_url(url).query == {"host": str(tmp_path), "port": "5433"}
    assert make_url(url).host is None
    assert make_url(url).database == "db"
    # A remote server, or TCP asked for, keeps the URL as it was.
    remote = "postgresql://postgres@db.example:5433/db"
    assert dss.server_url(remote, "auto") == (remote, "TCP")
    assert dss.server_url("postgresql://postgres@127.0.0.1:5433/db", "tcp")[1] == "TCP"
    with pytest.raises(SystemExit, match="no local PostgreSQL socket"):
        dss.server_url("postgresql://postgres@127.0.0.1:5999/db", "unix")
