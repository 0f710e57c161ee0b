"""``dronecoop logs``: read flight logs and say what is in them (flights, findings)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dronecoop.logs.analysis import analyse
from dronecoop.logs.model import LogReport
from dronecoop.logs.readers import LogFormatError, read_log

app = typer.Typer(
    help="Flight logs: PX4 ULog, ArduPilot DataFlash, MAVLink tlog.", no_args_is_help=True
)
console = Console(soft_wrap=True)
LOG_SUFFIXES = {".ulg", ".bin", ".log", ".tlog"}
MAX_LOG_BYTES = 2 * 1024**3


def log_files(paths: list[Path]) -> Iterator[Path]:
    """The files named, and the logs (by suffix) under the directories named."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOG_SUFFIXES
            )
        else:
            yield path


def analyse_file(path: Path) -> LogReport:
    size = path.stat().st_size
    if size > MAX_LOG_BYTES:
        raise LogFormatError(f"{path.name}: {size} bytes is over the {MAX_LOG_BYTES} byte limit")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return analyse(read_log(path), sha256=digest.hexdigest(), size_bytes=size)


@app.command("analyse")
def analyse_command(
    paths: Annotated[list[Path], typer.Argument(help="Log files or directories of logs.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every report to this JSON file.")
    ] = None,
) -> None:
    """Read each log: its flights (arm to disarm), airborne time, and health findings with
    the field's thresholds. A file that cannot be read is reported and the rest go on."""
    files = list(log_files(paths))
    if not files:
        console.print("no log files found")
        raise typer.Exit(1)
    reports: dict[str, LogReport] = {}
    errors: dict[str, str] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console,
        transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("reading logs", total=len(files))
        for path in files:
            progress.update(task, description=f"reading {path.name}")
            try:
                reports[str(path)] = analyse_file(path)
            except (OSError, LogFormatError) as exc:
                errors[str(path)] = str(exc)
            progress.advance(task)
    table = Table("log", "format", "firmware", "flights", "airborne", "findings")
    for name, report in reports.items():
        worst = ", ".join(f"{f.code} ({f.severity})" for f in report.findings) or "-"
        table.add_row(
            Path(name).name, report.format.value, report.firmware or "?", str(report.cycles),
            f"{report.airborne_s / 60:.1f} min", worst,
        )  # fmt: skip
    console.print(table)
    for name, report in reports.items():
        for finding in report.findings:
            console.print(
                f"[bold]{Path(name).name}[/] {finding.severity.value.upper()} {finding.summary} "
                f"({finding.start_s:.0f}-{finding.end_s:.0f} s; {finding.threshold})"
            )
        if report.lifetime_flight_s is not None:
            hours = report.lifetime_flight_s / 3600
            console.print(f"[bold]{Path(name).name}[/] lifetime flight time {hours:.2f} h")
    for name, error in errors.items():
        console.print(f"[bold red]not read[/] {name}: {error}")
    if json_out is not None:
        document = {
            "reports": {name: _json(r) for name, r in reports.items()},
            "errors": errors,
        }
        json_out.write_bytes(
            orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )
    if errors and not reports:
        raise typer.Exit(1)


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Log files or directories of logs.")],
    aircraft: Annotated[
        str | None,
        typer.Option(help="The aircraft they belong to (else matched by the autopilot's id)."),
    ] = None,
    url: Annotated[str, typer.Option(help="The node.", envvar="DRONECOOP_URL")] = (
        "http://127.0.0.1:8082"
    ),
    token: Annotated[
        str | None, typer.Option(envvar="DRONECOOP_TOKEN", help="Bearer token.")
    ] = None,
    partner: Annotated[
        str | None, typer.Option(help="Act as this partner of the running demo.")
    ] = None,
) -> None:
    """Upload logs to a node: each is analysed, kept once and counted into its aircraft's
    hours and cycles. Every file gets its own line; a bad file does not stop the rest."""
    from dronecoop.flights_cli import _client

    files = list(log_files(paths))
    if not files:
        console.print("no log files found")
        raise typer.Exit(1)
    table = Table("log", "result", "aircraft", "flights", "airborne", "findings")
    failed = 0
    with _client(url, token, "maintainer", "maintainer", partner) as client, Progress(
        TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console,
        transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("uploading", total=sum(f.stat().st_size for f in files))
        for path in files:
            progress.update(task, description=f"uploading {path.name}")
            params = {"filename": path.name} | ({"aircraft": aircraft} if aircraft else {})
            try:
                with path.open("rb") as fh:
                    r = client.post(
                        "/api/v1/logs",
                        content=fh,
                        params=params,
                        headers={"Content-Type": "application/octet-stream"},
                        timeout=600,
                    )
            except OSError as exc:
                r = None
                reason = str(exc)
            progress.advance(task, path.stat().st_size)
            if r is not None and r.status_code in (200, 201):
                body = r.json()
                table.add_row(
                    path.name, "kept" if body["new"] else "already kept",
                    body["aircraft_id"] or "-", str(body["flights"]),
                    f"{body['airborne_s'] / 60:.1f} min",
                    ", ".join(f["code"] for f in body["findings"]) or "-",
                )  # fmt: skip
                continue
            failed += 1
            if r is not None:
                try:
                    reason = r.json().get("detail") or r.text
                except ValueError:
                    reason = r.text
            table.add_row(path.name, f"[red]refused[/]: {reason}", "", "", "", "")
    console.print(table)
    if failed == len(files):
        raise typer.Exit(1)


def _json(report: LogReport) -> dict[str, Any]:
    body = asdict(report)
    body["cycles"] = report.cycles
    body["airborne_s"] = report.airborne_s
    return body
