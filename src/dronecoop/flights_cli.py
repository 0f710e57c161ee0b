"""``dronecoop flights``: plan, list, activate and end flights on a node, over its API."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Plan, list, activate and end flights on a node (its /api/v1/flights).",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)

DEV_KEY = Path("var/dev-signing-key.pem")
Url = Annotated[str, typer.Option(help="The node.", envvar="DRONECOOP_URL")]
Token = Annotated[
    str | None,
    typer.Option(
        help="Bearer token (default: one minted with the dev key, for a local node without "
        "a partners file).",
        envvar="DRONECOOP_TOKEN",
    ),
]
Sub = Annotated[str, typer.Option(help="Who you are, for a minted dev token.")]
Partner = Annotated[
    str | None,
    typer.Option(
        help="Act as this partner of the running `dronecoop demo` (rok, us): its USS and its "
        "key, from var/demo/nodes.json.",
        envvar="DRONECOOP_PARTNER",
    ),
]
DEMO_NODES = Path("var/demo/nodes.json")


@app.command("plan")
def plan(
    file: Annotated[Path, typer.Argument(help="A QGroundControl .plan, or a GeoJSON route/area.")],
    start: Annotated[
        str, typer.Option(help="Take-off time, RFC 3339 (e.g. 2026-12-01T09:00:00Z).")
    ],
    speed: Annotated[
        float | None, typer.Option(help="Ground speed, m/s (default: the plan's).")
    ] = None,
    priority: Annotated[int, typer.Option(help="F3548 priority.")] = 0,
    altitude: Annotated[float, typer.Option(help="GeoJSON: altitude above home, m.")] = 60.0,
    home_altitude: Annotated[
        float | None,
        typer.Option(help="Take-off point's altitude above mean sea level, m (GeoJSON has none)."),
    ] = None,
    release_to: Annotated[
        list[str] | None, typer.Option(help="Partner that may see the details; repeatable.")
    ] = None,
    mission: Annotated[str | None, typer.Option(help="What the flight is for (a detail).")] = None,
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    sub: Sub = "planner",
    partner: Partner = None,
) -> None:
    """Plan a flight: accepted and published to the DSS, or refused with each conflict."""
    try:
        document = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from exc
    is_plan = isinstance(document, dict) and document.get("fileType") == "Plan"
    body: dict[str, Any] = {
        ("plan" if is_plan else "geojson"): document,
        "start": start,
        "priority": priority,
        "released_to": release_to or [],
        "details": {"mission": mission} if mission else {},
    }
    if speed is not None:
        body["ground_speed_mps"] = speed
    if home_altitude is not None:
        body["home_altitude_amsl_m"] = home_altitude
    if not is_plan:
        body["altitude_m"] = altitude
    with _client(url, token, sub, "planner", partner) as client:
        r = client.post("/api/v1/flights", json=body)
    if r.status_code == 409:
        console.print(f"[bold red]refused[/]: {file.name} conflicts with other operations:")
        for line in r.json().get("conflicts", []):
            console.print(f"  - {line}")
        console.print("re-plan at another time, place or height, or at a higher priority")
        raise typer.Exit(1)
    flight = _ok(r)
    window = _window(flight)
    console.print(
        f"[bold green]accepted[/]: flight {flight['id']} ({flight['partner']}), "
        f"{len(flight['volumes'])} volumes, {window}"
    )


@app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(help="A QGroundControl .plan, or a GeoJSON route/area.")],
    to: Annotated[str, typer.Option(help="Write it as: geojson or plan.")],
    out: Annotated[Path | None, typer.Option(help="Where to write (default: print).")] = None,
    altitude: Annotated[float, typer.Option(help="GeoJSON in: altitude above home, m.")] = 60.0,
) -> None:
    """Export a mission: a .plan as GeoJSON (route, home, fences, rally points), or a GeoJSON
    route/area as a QGroundControl plan. Nothing is planned."""
    from dronecoop.planning.errors import PlanFileError
    from dronecoop.planning.geojson import mission_from_geojson, mission_to_geojson
    from dronecoop.planning.qgc import plan_from_document, write_plan

    if to not in ("geojson", "plan"):
        raise typer.BadParameter("give geojson or plan", param_hint="--to")
    try:
        document = orjson.loads(file.read_bytes())
        is_plan = isinstance(document, dict) and document.get("fileType") == "Plan"
        mission = (
            plan_from_document(document)
            if is_plan
            else mission_from_geojson(document, altitude_m=altitude)
        )
    except (OSError, orjson.JSONDecodeError, PlanFileError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from exc
    if to == "plan":
        data = write_plan(mission)
    else:
        data = orjson.dumps(mission_to_geojson(mission), option=orjson.OPT_INDENT_2)
    if out is None:
        typer.echo(data.decode())
    else:
        out.write_bytes(data)
        console.print(f"wrote {out} ({len(mission.positions)} positions)")


@app.command("list")
def list_flights(
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    sub: Sub = "observer",
    partner: Partner = None,
) -> None:
    """The flights you may see."""
    with _client(url, token, sub, "observer", partner) as client:
        flights = _ok(client.get("/api/v1/flights"))["flights"]
    table = Table("flight", "partner", "state", "priority", "when (UTC)", "mission")
    for f in flights:
        table.add_row(
            f["id"], f["partner"], f["state"], str(f["priority"]), _window(f),
            str(f["details"].get("mission", "")),
        )  # fmt: skip
    console.print(table)


@app.command("activate")
def activate(
    flight_id: str,
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    sub: Sub = "operator",
    partner: Partner = None,
) -> None:
    """Activate one of your partner's flights."""
    _transition(flight_id, "activate", url, token, sub, partner)


@app.command("end")
def end(
    flight_id: str,
    url: Url = "http://127.0.0.1:8082",
    token: Token = None,
    sub: Sub = "operator",
    partner: Partner = None,
) -> None:
    """End one of your partner's flights (its operational intent leaves the DSS)."""
    _transition(flight_id, "end", url, token, sub, partner)


def _transition(
    flight_id: str, verb: str, url: str, token: str | None, sub: str, partner: str | None
) -> None:
    with _client(url, token, sub, "operator", partner) as client:
        flight = _ok(client.post(f"/api/v1/flights/{flight_id}/{verb}"))
    console.print(f"flight {flight['id']}: {flight['state']}")


def _client(
    url: str, token: str | None, sub: str, role: str, partner: str | None = None
) -> httpx.Client:
    if token is None and partner is not None:
        url, token = _demo_partner(partner, sub, role)
    if token is None:
        from dronecoop.auth.devkeys import load_or_create_private_key, mint_token

        key_file = Path(os.environ.get("DRONECOOP_DEV_SIGNING_KEY_FILE", DEV_KEY))
        if not key_file.exists():
            raise typer.BadParameter(
                f"no token given and no dev key at {key_file}: pass --token", param_hint="--token"
            )
        token = mint_token(
            load_or_create_private_key(key_file),
            sub=sub,
            scopes=[f"dronecoop.role.{role}"],
            audience="localhost",
        )
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _demo_partner(partner: str, sub: str, role: str) -> tuple[str, str]:
    """The URL of ``partner``'s USS in the running demo, and a token of that partner."""
    from dronecoop.auth.devkeys import load_private_key, mint_token

    try:
        nodes = orjson.loads(DEMO_NODES.read_bytes())
        entry = nodes["partners"][partner]
    except (OSError, orjson.JSONDecodeError) as exc:
        raise typer.BadParameter(
            f"no running demo here ({DEMO_NODES} unreadable: {exc}): start `dronecoop demo`",
            param_hint="--partner",
        ) from exc
    except KeyError as exc:
        raise typer.BadParameter(
            f"the demo has no partner {partner!r}: {', '.join(nodes.get('partners', {}))}",
            param_hint="--partner",
        ) from exc
    token = mint_token(
        load_private_key(Path(entry["key_file"])),
        sub=f"{sub}@{partner}",
        scopes=[f"dronecoop.role.{role}"],
        audience="localhost",
        issuer=entry["issuer"],
    )
    return str(entry["url"]), token


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        console.print(f"[bold red]{response.status_code}[/]: {detail}")
        raise typer.Exit(1)
    return response.json()


def _window(flight: dict[str, Any]) -> str:
    starts = [v["time_start"] for v in flight["volumes"] if v.get("time_start")]
    ends = [v["time_end"] for v in flight["volumes"] if v.get("time_end")]
    if not starts or not ends:
        return "any time"
    first = datetime.fromisoformat(min(starts)).astimezone(UTC)
    last = datetime.fromisoformat(max(ends)).astimezone(UTC)
    return f"{first:%Y-%m-%d %H:%M} to {last:%H:%M}"
