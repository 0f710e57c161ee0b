"""``dronecoop fleet``: register and list aircraft on a node, over its API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dronecoop.flights_cli import Partner, Token, Url, _client, _ok

app = typer.Typer(help="The fleet registry: aircraft, hours and cycles.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("add")
def add(
    model: Annotated[str, typer.Option(help="Aircraft type, e.g. 'RQ-7B Shadow'.")],
    serial: Annotated[str, typer.Option(help="Serial number (unique within your partner).")],
    registration: Annotated[str, typer.Option(help="Registration / tail number.")] = "",
    home_depot: Annotated[str, typer.Option(help="Depot that maintains it.")] = "",
    autopilot_uid: Annotated[
        str, typer.Option(help="Flight controller id its logs carry (to match them).")
    ] = "",
    opening_hours: Annotated[float, typer.Option(help="Hours flown before it came here.")] = 0.0,
    opening_cycles: Annotated[int, typer.Option(help="Cycles flown before it came here.")] = 0,
    opening_as_of: Annotated[str | None, typer.Option(help="Date of those balances.")] = None,
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    partner: Partner = None,
) -> None:
    """Register one of your partner's aircraft (with its opening balances)."""
    body: dict[str, Any] = {
        "model": model,
        "serial": serial,
        "registration": registration,
        "home_depot": home_depot,
        "autopilot_uid": autopilot_uid,
        "opening_hours": opening_hours,
        "opening_cycles": opening_cycles,
    }
    if opening_as_of:
        body["opening_as_of"] = opening_as_of
    with _client(url, token, "maintainer", "maintainer", partner) as client:
        aircraft = _ok(client.post("/api/v1/aircraft", json=body))
    console.print(
        f"registered {aircraft['model']} {aircraft['serial']} ({aircraft['partner']}): "
        f"{aircraft['id']}"
    )


@app.command("list")
def list_aircraft(
    url: Url = "http://127.0.0.1:8082", token: Token = None, partner: Partner = None
) -> None:
    """The aircraft you may see, with their hours and cycles."""
    with _client(url, token, "maintainer", "maintainer", partner) as client:
        fleet = _ok(client.get("/api/v1/aircraft"))["aircraft"]
    table = Table("aircraft", "partner", "model", "serial", "status", "hours", "cycles", "logs")
    for a in fleet:
        table.add_row(
            a["id"], a["partner"], a["model"], a["serial"], a["status"], f"{a['hours']:.1f}",
            str(a["cycles"]), str(a["logs"]),
        )  # fmt: skip
    console.print(table)
