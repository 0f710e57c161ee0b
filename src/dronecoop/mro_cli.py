"""``dronecoop mro``: the due-list and airworthiness of the aircraft you may see."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from dronecoop.flights_cli import Partner, Token, Url, _client, _ok

app = typer.Typer(help="Maintenance: due-list and airworthiness.", no_args_is_help=True)
console = Console(soft_wrap=True)
COLOURS = {"green": "green", "amber": "yellow", "red": "bold red"}


@app.command("due")
def due(url: Url = "http://127.0.0.1:8082", token: Token = None, partner: Partner = None) -> None:
    """Every aircraft: airworthy or grounded (and why), and each program task's next due."""
    with _client(url, token, "maintainer", "maintainer", partner) as client:
        fleet = _ok(client.get("/api/v1/mro/due"))["aircraft"]
    if not fleet:
        console.print("no aircraft")
        return
    for aircraft in fleet:
        verdict = "[green]airworthy[/]" if aircraft["airworthy"] else "[bold red]GROUNDED[/]"
        console.print(
            f"[bold]{aircraft['model']} {aircraft['serial']}[/] ({aircraft['partner']}): "
            f"{verdict}, {aircraft['hours']:.1f} h, {aircraft['cycles']} cycles"
        )
        for reason in aircraft["reasons"]:
            console.print(f"  - {reason}")
        table = Table("task", "status", "left", "falls due", "by")
        for item in aircraft["items"]:
            left = ", ".join(
                f"{item[k]:.1f} {unit}" if isinstance(item[k], float) else f"{item[k]} {unit}"
                for k, unit in (("remaining_hours", "h"), ("remaining_cycles", "cycles"),
                                ("remaining_days", "days"))
                if item[k] is not None
            )  # fmt: skip
            colour = COLOURS[item["status"]]
            table.add_row(
                f"{item['code']} {item['title']}", f"[{colour}]{item['status']}[/]", left,
                (item["forecast"] or "-")[:10], item["governed_by"],
            )  # fmt: skip
        console.print(table)
