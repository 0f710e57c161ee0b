"""``dronecoop mro``: the due-list and airworthiness of the aircraft you may see."""

from __future__ import annotations

from typing import Annotated, Any

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


workorder_app = typer.Typer(help="Work orders: open, list, sign, inspect, complete.")
app.add_typer(workorder_app, name="workorder")


@workorder_app.command("open")
def workorder_open(
    aircraft: Annotated[str, typer.Option(help="Your aircraft's id.")],
    task: Annotated[list[str] | None, typer.Option(help="A program task code; repeatable.")] = None,
    defect: Annotated[
        list[str] | None, typer.Option(help="An open defect's id; repeatable.")
    ] = None,
    card: Annotated[
        list[str] | None, typer.Option(help="A free task card title; repeatable.")
    ] = None,
    depot: Annotated[str | None, typer.Option(help="The partner whose depot does it.")] = None,
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    partner: Partner = None,
) -> None:
    """Open a work order on your aircraft, at your depot or an ally's."""
    cards = [{"task_code": t} for t in task or []] + [{"defect_id": d} for d in defect or []]
    cards += [{"title": c} for c in card or []]
    body: dict[str, object] = {"aircraft_id": aircraft, "cards": cards}
    if depot:
        body["depot"] = depot
    with _client(url, token, "maintainer", "maintainer", partner) as client:
        order = _ok(client.post("/api/v1/workorders", json=body))
    console.print(f"work order {order['id']} open at {order['depot']}'s depot")
    _cards(order)


@workorder_app.command("list")
def workorder_list(
    url: Url = "http://127.0.0.1:8082", token: Token = None, partner: Partner = None
) -> None:
    """Work orders on your aircraft, or open at your depot."""
    with _client(url, token, "maintainer", "maintainer", partner) as client:
        orders = _ok(client.get("/api/v1/workorders"))["work_orders"]
    table = Table("work order", "aircraft", "owner", "depot", "status", "cards done")
    for o in orders:
        done = sum(1 for c in o["cards"] if c["complete"])
        table.add_row(
            o["id"], o["aircraft_id"], o["owner"], o["depot"], o["status"],
            f"{done}/{len(o['cards'])}",
        )  # fmt: skip
    console.print(table)


@workorder_app.command("sign")
def workorder_sign(
    order: Annotated[str, typer.Argument(help="The work order's id.")],
    index: Annotated[int, typer.Argument(help="The card's number.")],
    inspect: Annotated[
        bool, typer.Option("--inspect", help="Sign as the second inspector (critical cards).")
    ] = False,
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    partner: Partner = None,
) -> None:
    """Sign a task card as its technician, or inspect it as the second person."""
    verb = "inspect" if inspect else "sign"
    with _client(url, token, "technician", "depot_technician", partner) as client:
        done = _ok(client.post(f"/api/v1/workorders/{order}/cards/{index}/{verb}"))
    _cards(done)


@workorder_app.command("complete")
def workorder_complete(
    order: Annotated[str, typer.Argument(help="The work order's id.")],
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    partner: Partner = None,
) -> None:
    """Sign the work order off: the program tasks count as done, the defects close."""
    with _client(url, token, "maintainer", "maintainer", partner) as client:
        done = _ok(client.post(f"/api/v1/workorders/{order}/complete"))
    console.print(f"work order {done['id']}: {done['status']}")


def _cards(order: dict[str, Any]) -> None:
    table = Table("#", "card", "critical", "signed by", "inspected by")
    for c in order["cards"]:
        table.add_row(
            str(c["index"]), c["title"], "yes" if c["critical"] else "",
            c["signed_by"] or "", c["inspected_by"] or "",
        )  # fmt: skip
    console.print(table)
