"""``dronecoop demo``: two allies sharing one sky over Camp Humphreys, on this machine.

Starts a shared DSS and two partner USS nodes (``rok`` and ``us``: separate SQLite stores,
separate signing keys, one partners file), each its own uvicorn server on localhost. Then
it plays a short morning as the partners' planners would, over the nodes' HTTP APIs:
both publish their flights, a US mission crossing a ROK route at the same time is refused
(with whose flight, where and when), re-planned half an hour later and accepted; the ROK
flight is activated; each USS has learnt of the other's flights through F3548
notifications. The nodes then keep running, API docs at known URLs, until Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from dronecoop.federation import Federation, LiveNode, bind, start_nodes
from dronecoop.trust.roles import Role

NOTIFICATION_GRACE_S = 1.0
HOME_AMSL_M = 16.0  # Camp Humphreys (Desiderio AAF) field elevation, about 16 m
# Routes near Camp Humphreys / Pyeongtaek, [lat, lon, metres above take-off].
ROK_RECCE = [[36.9628, 127.0311, 60.0], [36.9700, 127.0400, 90.0], [36.9760, 127.0450, 90.0]]
ROK_PATROL = [[36.9500, 127.0600, 80.0], [36.9450, 127.0720, 80.0], [36.9390, 127.0650, 80.0]]
US_SURVEY = {  # GeoJSON ([lon, lat]): the perimeter of the southern training area
    "type": "Polygon",
    "coordinates": [
        [
            [127.0150, 36.9420],
            [127.0280, 36.9420],
            [127.0280, 36.9500],
            [127.0150, 36.9500],
            [127.0150, 36.9420],
        ]
    ],
}
# High above the ROK recce route, at the same time: separated by altitude only.
US_ISR = [[36.9560, 127.0100, 250.0], [36.9700, 127.0350, 250.0], [36.9780, 127.0440, 250.0]]
# ED-269: a prohibited area round an ammunition supply point, 0-150 m above ground.
ASP_ZONE = {
    "title": "ROK Army temporary restrictions",
    "features": [
        {
            "identifier": "RK-R-ASP1",
            "country": "KOR",
            "name": "Ammunition supply point",
            "type": "COMMON",
            "restriction": "PROHIBITED",
            "reason": ["MILITARY"],
            "applicability": [{"permanent": "YES"}],
            "geometry": [
                {
                    "uomDimensions": "M",
                    "lowerLimit": 0,
                    "lowerVerticalReference": "AGL",
                    "upperLimit": 150,
                    "upperVerticalReference": "AGL",
                    "horizontalProjection": {
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [127.0420, 36.9520],
                                [127.0480, 36.9520],
                                [127.0480, 36.9580],
                                [127.0420, 36.9580],
                                [127.0420, 36.9520],
                            ]
                        ],
                    },
                }
            ],
        }
    ],
}
US_RESUPPLY = [[36.9500, 127.0350, 60.0], [36.9600, 127.0550, 60.0]]
US_RESUPPLY_AROUND = [
    [36.9500, 127.0350, 60.0],
    [36.9490, 127.0520, 60.0],
    [36.9600, 127.0550, 60.0],
]
US_MEDEVAC = [[36.9750, 127.0300, 70.0], [36.9640, 127.0470, 70.0]]


# Each partner's small fleet: (type, serial), registered on its own node; each mission
# names the aircraft that flies it, in the flight's details.
FLEETS = {
    "rok": [("RQ-101 Songgolmae", "ROK-RQ101-07"), ("RQ-101 Songgolmae", "ROK-RQ101-12")],
    "us": [
        ("MQ-1C Gray Eagle", "US-MQ1C-2231"),
        ("RQ-7B Shadow", "US-RQ7B-0418"),
        ("RQ-7B Shadow", "US-RQ7B-0422"),
        ("Skydio X2D", "US-X2D-0107"),  # the quadcopter whose real log the depot uploads
    ],
}
LOGGED = FLEETS["us"][3]
# The quadcopter's maintenance program (whichever first) and its battery.
QUAD_PROGRAM = [
    {"code": "MOTOR-10H", "title": "motor and propeller inspection", "hours": 10,
     "cycles": 150, "tolerance_pct": 10},
    {"code": "FRAME-120C", "title": "arm and frame crack check", "cycles": 120},
    {"code": "ANNUAL", "title": "annual airworthiness review", "days": 365, "critical": True},
]  # fmt: skip
BATTERY_PROGRAM = {"code": "BATT-CAP-50C", "title": "battery capacity check", "cycles": 50}
QUAD_BATTERY = {"part_number": "X2D-BATT-3S", "serial": "B-0412", "kind": "battery",
                "description": "3S smart battery", "life_cycles": 300}  # fmt: skip
MISSION_AIRCRAFT = {
    "recce": 0,
    "patrol": 1,
    "survey": 1,
    "isr": 0,
    "medevac rehearsal": 2,
    "resupply": 2,
}


@dataclass
class Crew:
    """A partner's planning cell: talks to its own USS with its own tokens."""

    partner: str
    client: httpx.Client

    def plan(self, what: str, **body: Any) -> httpx.Response:
        kind, serial = FLEETS[self.partner][MISSION_AIRCRAFT[what]]
        body.setdefault("ground_speed_mps", 12.0)
        body.setdefault("details", {"mission": what, "aircraft": f"{kind} {serial}"})
        return self.client.post("/api/v1/flights", json=body)


def run_demo(
    workdir: Path,
    *,
    host: str = "127.0.0.1",
    base_port: int = 8082,
    keep_running: bool = True,
    console: Console | None = None,
    stop: threading.Event | None = None,
    logs_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the demo; returns what happened (flights by partner, refusal) for the tests."""
    console = console or Console()
    for old in workdir.glob("*.sqlite3*"):
        old.unlink()  # a fresh morning each time; keys are kept
    fed = Federation.create(
        workdir, [("rok", "ROK Army 1st UAV unit"), ("us", "US Army 2nd Aviation Bn")]
    )
    try:
        socks = [bind(host, base_port + i if base_port else 0) for i in range(3)]
    except OSError as exc:
        raise RuntimeError(
            f"ports {base_port}-{base_port + 2} on {host} are not free ({exc}): stop what "
            "uses them or pass --port"
        ) from exc
    dss = LiveNode("dss", fed.dss_settings(_port(socks[0]), host=host), socks[0])
    nodes = [dss]
    for i, partner in enumerate(("rok", "us"), start=1):
        settings = fed.uss_settings(partner, _port(socks[i]), f"http://{host}:{_port(socks[0])}")
        nodes.append(LiveNode(partner, settings.model_copy(update={"host": host}), socks[i]))
    console.rule("[bold]dronecoop demo: two allies, one sky over Camp Humphreys")
    start_nodes(nodes)
    uss = {n.name: n for n in nodes[1:]}
    console.print(f"shared DSS        {dss.url}/dss/v1")
    for partner, node in uss.items():
        console.print(f"{partner.upper():4} USS          {node.url}  (own store, own key)")
    crews = {
        p: Crew(
            p,
            httpx.Client(
                base_url=uss[p].url,
                headers={
                    "Authorization": "Bearer "
                    + fed.partners[p].token(
                        f"ops@{p}", Role.PLANNER, Role.OPERATOR, Role.MAINTAINER
                    )
                },
                timeout=30,
            ),
        )
        for p in uss
    }
    _write_nodes(fed, workdir, {n.name: n.url for n in nodes})
    try:
        _register_fleets(console, crews)
        outcome = _story(console, crews)
        _summary(console, crews)
        outcome["maintenance"] = _maintenance(console, crews["us"], logs_dir)
        _tokens(fed, workdir)
        console.rule("[bold]nodes running")
        console.print(f"DSS API docs      {dss.url}/docs")
        for partner, node in uss.items():
            console.print(f"{partner.upper():4} API docs     {node.url}/docs")
        console.print("plan as a partner: dronecoop flights plan FILE --start TIME --partner rok")
        us_token = fed.partners["us"].token("ops@us", Role.MAINTAINER, Role.OBSERVER)
        console.print(f"US fleet page     {uss['us'].url}/fleet#token={us_token}")
        console.print(
            f"tokens to call them: {workdir / 'tokens.env'} "
            '(source it, then: curl -H "Authorization: Bearer $ROK_TOKEN" '
            f"{uss['rok'].url}/api/v1/flights)"
        )
        if keep_running:
            console.print("[dim]Ctrl-C stops the three nodes.[/]")
            try:
                (stop or threading.Event()).wait()
            except KeyboardInterrupt:
                console.print("stopping")
        return outcome
    finally:
        for crew in crews.values():
            crew.client.close()
        for node in reversed(nodes):
            node.stop()


def _story(console: Console, crews: dict[str, Crew]) -> dict[str, Any]:
    rok, us = crews["rok"], crews["us"]
    now = datetime.now(UTC)
    t0 = (now + timedelta(minutes=45)).replace(second=0, microsecond=0)
    home = [ROK_RECCE[0][0], ROK_RECCE[0][1], HOME_AMSL_M]
    outcome: dict[str, Any] = {"accepted": {"rok": [], "us": []}}

    def accepted(crew: Crew, label: str, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 201:
            raise RuntimeError(f"{label} was not accepted: {response.text}")
        flight: dict[str, Any] = response.json()
        outcome["accepted"][crew.partner].append(flight["id"])
        aircraft = flight["details"].get("aircraft", "")
        console.print(
            f"[green]✔[/] {crew.partner.upper()} {label} ({aircraft}): accepted, "
            f"{_volumes(flight)}, {_window(flight)}  [dim]{flight['id']}[/]"
        )
        return flight

    console.rule(f"morning of {t0:%Y-%m-%d}, times UTC")
    recce = accepted(
        rok,
        "recce north of the airfield",
        rok.plan("recce", waypoints=ROK_RECCE, home=home, start=t0.isoformat(), priority=20),
    )
    accepted(
        rok,
        "patrol east",
        rok.plan(
            "patrol",
            waypoints=ROK_PATROL,
            home=[ROK_PATROL[0][0], ROK_PATROL[0][1], HOME_AMSL_M],
            start=(t0 + timedelta(minutes=10)).isoformat(),
        ),
    )
    accepted(
        us,
        "survey of the southern training area",
        us.plan(
            "survey",
            geojson=US_SURVEY,
            altitude_m=100.0,
            home=[36.9420, 127.0150, HOME_AMSL_M],
            start=t0.isoformat(),
        ),
    )
    accepted(
        us,
        "ISR track 250 m above the ROK recce at the same time",
        us.plan(
            "isr",
            waypoints=US_ISR,
            home=[US_ISR[0][0], US_ISR[0][1], HOME_AMSL_M],
            start=t0.isoformat(),
        ),
    )
    medevac = {
        "waypoints": US_MEDEVAC,
        "home": [US_MEDEVAC[0][0], US_MEDEVAC[0][1], HOME_AMSL_M],
    }
    refused = us.plan("medevac rehearsal", start=t0.isoformat(), **medevac)
    if refused.status_code != 409:
        raise RuntimeError(f"the crossing medevac rehearsal was not refused: {refused.text}")
    problem = refused.json()
    outcome["refused"] = problem
    console.print("[red]✘[/] US medevac rehearsal across the ROK recce route: [bold]refused[/]")
    for conflict in problem["conflicts"]:
        console.print(f"    {conflict}")
    later = t0 + timedelta(minutes=30)
    console.print(f"  the US planner moves it to {later:%H:%M} and tries again")
    accepted(
        us, "medevac rehearsal", us.plan("medevac rehearsal", start=later.isoformat(), **medevac)
    )
    zone = rok.client.post(
        "/api/v1/zones",
        json={"ed269": ASP_ZONE, "ground_amsl_m": HOME_AMSL_M, "start": now.isoformat()},
    )
    if zone.status_code != 201:
        raise RuntimeError(f"the restricted area was not published: {zone.text}")
    [asp] = zone.json()["published"]
    console.print(
        f"[green]✔[/] ROK publishes restricted area {asp['name']!r} (ED-269 import, "
        f"{asp['restriction']}, 0-150 m above ground)  [dim]{asp['id']}[/]"
    )
    resupply = {"home": [US_RESUPPLY[0][0], US_RESUPPLY[0][1], HOME_AMSL_M]}
    at = (t0 + timedelta(minutes=60)).isoformat()
    through = us.plan("resupply", waypoints=US_RESUPPLY, start=at, **resupply)
    if through.status_code != 409:
        raise RuntimeError(
            f"the resupply through the restricted area was not refused: {through.text}"
        )
    outcome["refused_by_zone"] = through.json()
    console.print("[red]✘[/] US resupply straight across it: [bold]refused[/]")
    for conflict in through.json()["conflicts"]:
        console.print(f"    {conflict}")
    console.print("  the US planner routes it south of the area")
    accepted(
        us,
        "resupply around the restricted area",
        us.plan("resupply", waypoints=US_RESUPPLY_AROUND, start=at, **resupply),
    )
    activated = rok.client.post(f"/api/v1/flights/{recce['id']}/activate")
    if activated.status_code != 200:
        raise RuntimeError(f"activation failed: {activated.text}")
    console.print(f"[green]✔[/] ROK recce activated (state {activated.json()['state']})")
    time.sleep(NOTIFICATION_GRACE_S)  # notifications go out in the background
    return outcome


def _register_fleets(console: Console, crews: dict[str, Crew]) -> None:
    """Each partner registers its small fleet on its own node (opening balances included)."""
    for partner, crew in crews.items():
        for i, (kind, serial) in enumerate(FLEETS[partner]):
            r = crew.client.post(
                "/api/v1/aircraft",
                json={
                    "model": kind,
                    "serial": serial,
                    "home_depot": "Camp Humphreys" if partner == "us" else "Pyeongtaek depot",
                    "opening_hours": 120.0 + 35 * i,
                    "opening_cycles": 80 + 20 * i,
                    "opening_as_of": "2026-11-01",
                },
            )
            if r.status_code != 201:
                raise RuntimeError(f"{serial} was not registered: {r.text}")
        names = ", ".join(f"{k} {s}" for k, s in FLEETS[partner])
        console.print(f"{partner.upper():4} fleet registered on its USS: {names}")


def _maintenance(console: Console, crew: Crew, logs_dir: Path | None) -> dict[str, Any]:
    """The US depot uploads a real flight log of one of its aircraft: hours, cycles and what
    the log says about its health."""
    log = logs_dir / "flight.tlog" if logs_dir is not None else None
    if log is None or not log.is_file():
        console.print(
            "[dim]no sample flight logs beside this checkout (../shared/data/logs): "
            "skipping the log upload[/]"
        )
        return {}
    console.rule("maintenance: a flight log in")
    fleet = crew.client.get("/api/v1/aircraft").json()["aircraft"]
    target = next(a for a in fleet if a["serial"] == LOGGED[1])
    for task in QUAD_PROGRAM:
        _ok(crew.client.post("/api/v1/mro/tasks", json=task | {"model": LOGGED[0]}), "task")
    battery = _ok(crew.client.post("/api/v1/components", json=QUAD_BATTERY), "battery")
    battery_task = BATTERY_PROGRAM | {"model": QUAD_BATTERY["part_number"]}  # its own cycles
    _ok(crew.client.post("/api/v1/mro/tasks", json=battery_task), "battery task")
    fit = f"/api/v1/aircraft/{target['id']}/components/{battery['id']}/install"
    _ok(crew.client.post(fit, json={"position": "battery bay"}), "battery fit")
    for task in QUAD_PROGRAM:  # its records arrive with it: everything done at intake
        done = {"task_code": task["code"]}
        _ok(crew.client.post(f"/api/v1/aircraft/{target['id']}/maintenance", json=done), "record")
    with log.open("rb") as fh:
        r = crew.client.post(
            "/api/v1/logs",
            content=fh,
            params={"filename": log.name, "aircraft": target["id"]},
            headers={"Content-Type": "application/octet-stream"},
            timeout=300,
        )
    if r.status_code not in (200, 201):
        raise RuntimeError(f"the log upload failed: {r.text}")
    body: dict[str, Any] = r.json()
    after = crew.client.get(f"/api/v1/aircraft/{target['id']}").json()
    console.print(
        f"US depot uploads {log.name} for {target['model']} {target['serial']}: "
        f"{body['flights']} flights, {body['airborne_s'] / 60:.0f} min airborne, "
        f"{body['cycles']} take-offs"
    )
    console.print(
        f"  hours {target['hours']:.1f} -> {after['hours']:.1f}, "
        f"cycles {target['cycles']} -> {after['cycles']}"
    )
    for finding in body["findings"]:
        console.print(f"  [bold]{finding['severity'].upper()}[/] {finding['summary']}")
    worst = next((f for f in body["findings"] if f["severity"] == "critical"), None)
    if worst is not None:  # the depot turns the worst finding into a defect
        defect = {"title": worst["summary"], "critical": True, "source": f"log {body['sha256']}"}
        _ok(crew.client.post(f"/api/v1/aircraft/{target['id']}/defects", json=defect), "defect")
        console.print(f"  defect raised from the log: {worst['summary']}")
    [due] = [
        a for a in crew.client.get("/api/v1/mro/due").json()["aircraft"]
        if a["aircraft_id"] == target["id"]
    ]  # fmt: skip
    for item in due["items"]:
        console.print(f"  due: {item['code']} {item['title']} [bold]{item['status']}[/]")
    state = "airworthy" if due["airworthy"] else "GROUNDED: " + "; ".join(due["reasons"])
    console.print(f"  {target['serial']} is {state}")
    return body | {"due": due}


def _ok(response: Any, what: str) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"the demo's {what} was refused: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _summary(console: Console, crews: dict[str, Crew]) -> None:
    table = Table(title="what each USS knows", show_lines=False)
    for column in ("USS", "flight", "partner", "state", "window (UTC)", "source"):
        table.add_column(column)
    for partner, crew in crews.items():
        for flight in crew.client.get("/api/v1/flights").json()["flights"]:
            table.add_row(
                partner,
                flight["id"][:8],
                flight["partner"],
                flight["state"],
                _window(flight),
                "own flight",
            )
        for peer in crew.client.get("/api/v1/peer_intents").json()["peer_intents"]:
            table.add_row(
                partner,
                peer["id"][:8],
                peer["partner"],
                peer["state"],
                _window(peer),
                f"notified by {peer['manager']}",
            )
    console.print(table)


def _write_nodes(fed: Federation, workdir: Path, urls: dict[str, str]) -> None:
    """Where the nodes are, for `dronecoop flights ... --partner rok` to act as a partner."""
    nodes = {
        "dss": urls["dss"],
        "partners": {
            p: {
                "url": urls[p],
                "key_file": str(member.private_key_file.resolve()),
                "issuer": member.issuer,
            }
            for p, member in fed.partners.items()
        },
    }
    (workdir / "nodes.json").write_bytes(orjson.dumps(nodes, option=orjson.OPT_INDENT_2))


def _tokens(fed: Federation, workdir: Path) -> None:
    lines = [
        f"{p.upper()}_TOKEN={fed.partners[p].token(f'ops@{p}', Role.PLANNER, Role.OPERATOR)}"
        for p in fed.partners
    ]
    path = workdir / "tokens.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def _window(flight: dict[str, Any]) -> str:
    starts = [v["time_start"] for v in flight["volumes"] if v.get("time_start")]
    ends = [v["time_end"] for v in flight["volumes"] if v.get("time_end")]
    if not starts or not ends:
        return "-"
    return f"{datetime.fromisoformat(min(starts)):%H:%M}-{datetime.fromisoformat(max(ends)):%H:%M}"


def _volumes(flight: dict[str, Any]) -> str:
    count = len(flight["volumes"])
    return f"{count} volume{'s' if count != 1 else ''}"


def _port(sock: Any) -> int:
    return int(sock.getsockname()[1])
