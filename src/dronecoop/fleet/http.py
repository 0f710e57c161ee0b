"""HTTP adapters of the fleet registry: ``/api/v1/aircraft`` and ``/api/v1/logs``.

A log is uploaded as the request body (``application/octet-stream``), streamed to a
temporary file (never held in memory whole), analysed, kept once, and answered with what
it holds: 201 when new, 200 when the same bytes were already kept, 400 with the reason
when it is not a log. Aircraft are visible to their owner and the partners they are
released to; a log to its owner (and, with work orders, the assigned depot).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dronecoop.fleet.model import Aircraft, StoredLog, utilisation
from dronecoop.fleet.service import FleetService
from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.inputs import json_object
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import Permission
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool

AIRCRAFT_READ = RoutePolicy(any_of=(Permission.FLEET_READ,), record_kind=RecordKind.AIRCRAFT)
AIRCRAFT_WRITE = RoutePolicy(any_of=(Permission.FLEET_WRITE,), writes=True)
LOGS_READ = RoutePolicy(
    any_of=(Permission.FLEET_READ, Permission.MRO_READ), record_kind=RecordKind.FLIGHT_LOG
)
LOGS_LIST = RoutePolicy(any_of=(Permission.FLEET_READ, Permission.MRO_READ))
LOGS_INGEST = RoutePolicy(any_of=(Permission.LOGS_INGEST,), writes=True)


def aircraft_meta(aircraft: Aircraft, assigned: frozenset[str] = frozenset()) -> RecordMeta:
    """``assigned``: depots with an open work order on it (they see it while it is open)."""
    return RecordMeta(
        kind=RecordKind.AIRCRAFT,
        owner=PartnerID(aircraft.partner),
        released_to=frozenset(PartnerID(p) for p in aircraft.released_to),
        assigned_to=frozenset(PartnerID(p) for p in assigned),
    )


def log_meta(log: StoredLog, assigned: frozenset[str] = frozenset()) -> RecordMeta:
    return RecordMeta(
        kind=RecordKind.FLIGHT_LOG,
        owner=PartnerID(log.partner),
        assigned_to=frozenset(PartnerID(p) for p in assigned),
    )


def no_depots(_aircraft_id: str) -> frozenset[str]:
    return frozenset()


def build_fleet_router(
    guard: Guard,
    fleet: FleetService,
    policy: ReleasabilityPolicy,
    assigned: Callable[[str], frozenset[str]] = no_depots,
) -> APIRouter:
    router = APIRouter(tags=["Fleet and flight logs"])
    route = guarded_routes(router, guard, "")

    def aircraft_json(aircraft: Aircraft, viewer: str) -> dict[str, Any]:
        logs = fleet.logs_of(aircraft)  # read once: utilisation and firmware come from them
        use = utilisation(aircraft, logs)
        latest = max(logs, key=lambda x: (x.start_utc or x.ingested_at, x.sha256), default=None)
        return {
            "id": aircraft.id,
            "partner": aircraft.partner,
            "model": aircraft.model,
            "serial": aircraft.serial,
            "registration": aircraft.registration,
            "home_depot": aircraft.home_depot,
            "status": aircraft.status.value,
            "autopilot_uid": aircraft.autopilot_uid,
            "opening": {
                "hours": aircraft.opening_hours,
                "cycles": aircraft.opening_cycles,
                "as_of": aircraft.opening_as_of.isoformat() if aircraft.opening_as_of else None,
            },
            "hours": round(use.hours, 3),
            "cycles": use.cycles,
            "logs": use.logs,
            "last_flight_utc": use.last_flight_utc.isoformat() if use.last_flight_utc else None,
            # What the latest log says, to those who may read the aircraft's logs.
            "firmware": ""
            if latest is None
            or not policy.visible(PartnerID(viewer), log_meta(latest, assigned(aircraft.id)))
            else latest.report.get("firmware", ""),
            **({"released_to": sorted(aircraft.released_to)} if viewer == aircraft.partner else {}),
        }

    @route("POST", "/api/v1/aircraft", AIRCRAFT_WRITE, "Register one of your partner's aircraft")
    async def register(request: Request) -> Response:
        principal = guard.admit(request, AIRCRAFT_WRITE)
        body = json_object(await request.body())
        aircraft = await run_in_threadpool(fleet.register, principal.partner, principal.sub, body)
        return OrjsonResponse(aircraft_json(aircraft, principal.partner), status_code=201)

    @route("GET", "/api/v1/aircraft", AIRCRAFT_READ, "The aircraft you may see, hours and cycles")
    async def list_aircraft(request: Request) -> Response:
        principal = guard.admit(request, AIRCRAFT_READ)
        viewer = PartnerID(principal.partner)

        def visible() -> list[dict[str, Any]]:
            return [
                aircraft_json(a, principal.partner)
                for a in fleet.all_aircraft()
                if policy.visible(viewer, aircraft_meta(a, assigned(a.id)))
            ]

        return OrjsonResponse({"aircraft": await run_in_threadpool(visible)})

    @route("GET", "/api/v1/aircraft/{aircraft_id}", AIRCRAFT_READ, "One aircraft and its logs")
    async def get_aircraft(request: Request, aircraft_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_READ)
        viewer = PartnerID(principal.partner)
        aircraft = await run_in_threadpool(fleet.aircraft, aircraft_id)
        depots = frozenset() if aircraft is None else assigned(aircraft.id)
        if aircraft is None or not policy.visible(viewer, aircraft_meta(aircraft, depots)):
            raise HTTPException(404, f"aircraft {aircraft_id} not found")
        body = aircraft_json(aircraft, principal.partner)
        logs = await run_in_threadpool(fleet.logs_of, aircraft)
        body["flight_logs"] = [
            _log_summary(log) for log in logs if policy.visible(viewer, log_meta(log, depots))
        ]
        return OrjsonResponse(body)

    @route("POST", "/api/v1/logs", LOGS_INGEST, "Upload a flight log (ULog, DataFlash, tlog)")
    async def upload(request: Request) -> Response:
        principal = guard.admit(request, LOGS_INGEST)
        filename = request.query_params.get("filename", "upload")
        aircraft_id = request.query_params.get("aircraft") or None
        with tempfile.TemporaryDirectory(prefix="dronecoop-log-") as folder:
            path = Path(folder) / "log"
            size = 0
            with path.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    out.write(chunk)
            if size == 0:
                raise PlanFileError("the request body is empty: send the log's bytes")
            done = await run_in_threadpool(
                fleet.ingest, principal.partner, principal.sub, filename, path, aircraft_id
            )
        body = _log_summary(done.log) | {"new": done.new, "matched_by": done.matched_by}
        return OrjsonResponse(body, status_code=201 if done.new else 200)

    @route("GET", "/api/v1/logs", LOGS_LIST, "The flight logs you may see")
    async def list_logs(request: Request) -> Response:
        principal = guard.admit(request, LOGS_LIST)
        viewer = PartnerID(principal.partner)
        logs = await run_in_threadpool(fleet.store.logs)

        def seen(log: StoredLog) -> bool:
            depots = assigned(log.aircraft_id) if log.aircraft_id else frozenset()
            return policy.visible(viewer, log_meta(log, depots))

        return OrjsonResponse({"logs": [_log_summary(x) for x in logs if seen(x)]})

    async def visible_log(partner: str, sha256: str) -> StoredLog:
        viewer = PartnerID(partner)
        kept = await run_in_threadpool(fleet.store.logs_by_hash, sha256.lower())
        log = next(
            (
                x
                for x in kept
                if policy.visible(
                    viewer,
                    log_meta(x, assigned(x.aircraft_id) if x.aircraft_id else frozenset()),
                )
            ),
            None,
        )
        if log is None:
            raise HTTPException(404, f"flight log {sha256} not found")
        return log

    @route("GET", "/api/v1/logs/{sha256}", LOGS_READ, "A flight log's full report")
    async def get_log(request: Request, sha256: str) -> Response:
        principal = guard.admit(request, LOGS_READ)
        log = await visible_log(principal.partner, sha256)
        return OrjsonResponse(_log_summary(log) | {"report": log.report})

    @route("GET", "/api/v1/logs/{sha256}/plot.png", LOGS_READ, "A flight log's plots (PNG)")
    async def plot(request: Request, sha256: str) -> Response:
        principal = guard.admit(request, LOGS_READ)
        log = await visible_log(principal.partner, sha256)
        png = await run_in_threadpool(fleet.plot, log)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private"})

    return router


def _log_summary(log: StoredLog) -> dict[str, Any]:
    findings = log.report.get("findings", [])
    return {
        "sha256": log.sha256,
        "partner": log.partner,
        "aircraft_id": log.aircraft_id,
        "filename": log.filename,
        "format": log.format,
        "size_bytes": log.size_bytes,
        "start_utc": log.start_utc.isoformat() if log.start_utc else None,
        "airborne_s": round(log.airborne_s, 1),
        "cycles": log.cycles,
        "flights": len(log.report.get("flights", [])),
        "firmware": log.report.get("firmware", ""),
        "findings": [
            {"code": f["code"], "severity": f["severity"], "summary": f["summary"]}
            for f in findings
        ],
        "warnings": log.report.get("warnings", []),
    }
