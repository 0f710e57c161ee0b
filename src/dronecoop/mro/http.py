"""HTTP adapters of maintenance: ``/api/v1/mro`` (programs, due-list) and an aircraft's
maintenance records and defects. An aircraft's owner records and sees its maintenance;
depots assigned by work orders come later."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dronecoop.fleet.http import aircraft_meta
from dronecoop.mro.service import AircraftDue, MroService
from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.inputs import json_object
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, ReleasabilityPolicy
from dronecoop.trust.roles import Permission
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse

MRO_READ = RoutePolicy(any_of=(Permission.MRO_READ,))
MRO_WRITE = RoutePolicy(any_of=(Permission.MRO_WRITE,), writes=True)
AIRCRAFT_MRO_WRITE = RoutePolicy(
    any_of=(Permission.MRO_WRITE,), record_kind=RecordKind.AIRCRAFT, writes=True
)


def due_json(due: AircraftDue) -> dict[str, Any]:
    a = due.aircraft
    return {
        "aircraft_id": a.id,
        "partner": a.partner,
        "model": a.model,
        "serial": a.serial,
        "hours": round(due.usage.hours, 2),
        "cycles": due.usage.cycles,
        "airworthy": due.verdict.airworthy,
        "reasons": due.verdict.reasons,
        "open_defects": [
            {"id": d.id, "title": d.title, "critical": d.critical, "source": d.source}
            for d in due.defects
        ],
        "items": [
            {
                "code": i.task.code,
                "title": i.task.title,
                "status": i.status.value,
                "governed_by": i.governed_by,
                "remaining_hours": i.remaining_hours,
                "remaining_cycles": i.remaining_cycles,
                "remaining_days": None if i.remaining_days is None else round(i.remaining_days, 1),
                "forecast": i.forecast.isoformat() if i.forecast else None,
                "last_done": i.last_done.at.isoformat() if i.last_done else None,
            }
            for i in due.items
        ],
    }


def build_mro_router(guard: Guard, mro: MroService, policy: ReleasabilityPolicy) -> APIRouter:
    router = APIRouter(tags=["Maintenance (MRO)"])
    route = guarded_routes(router, guard, "")

    async def visible(partner: str, aircraft_id: str) -> None:
        """404 for an aircraft the caller may not see, exactly as for one that does not exist."""
        aircraft = await run_in_threadpool(mro.fleet.aircraft, aircraft_id)
        if aircraft is None or not policy.visible(PartnerID(partner), aircraft_meta(aircraft)):
            raise HTTPException(404, f"aircraft {aircraft_id} not found")

    @route("POST", "/api/v1/mro/tasks", MRO_WRITE, "Add a task to a model's maintenance program")
    async def add_task(request: Request) -> Response:
        principal = guard.admit(request, MRO_WRITE)
        body = json_object(await request.body())
        model, task = await run_in_threadpool(mro.add_task, principal.partner, principal.sub, body)
        return OrjsonResponse({"model": model, "code": task.code, "title": task.title}, 201)

    @route("GET", "/api/v1/mro/tasks", MRO_READ, "Your partner's maintenance programs")
    async def tasks(request: Request) -> Response:
        principal = guard.admit(request, MRO_READ)
        found = await run_in_threadpool(mro.store.tasks, principal.partner)
        return OrjsonResponse(
            {
                "tasks": [
                    {
                        "model": model,
                        "code": t.code,
                        "title": t.title,
                        "hours": t.hours,
                        "cycles": t.cycles,
                        "days": t.days,
                        "tolerance_pct": t.tolerance_pct,
                        "critical": t.critical,
                    }
                    for _, model, t in found
                ]
            }
        )

    @route("GET", "/api/v1/mro/due", MRO_READ, "Due-list and airworthiness of every aircraft")
    async def due(request: Request) -> Response:
        principal = guard.admit(request, MRO_READ)
        viewer = PartnerID(principal.partner)

        def compute() -> list[dict[str, Any]]:
            return [
                due_json(mro.due(a))
                for a in mro.fleet.all_aircraft()
                if policy.visible(viewer, aircraft_meta(a))
            ]

        return OrjsonResponse({"aircraft": await run_in_threadpool(compute)})

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/maintenance",
        AIRCRAFT_MRO_WRITE,
        "Record a program task done on your aircraft",
    )
    async def done(request: Request, aircraft_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_MRO_WRITE)
        await visible(principal.partner, aircraft_id)
        body = json_object(await request.body())
        code = body.get("task_code")
        if not isinstance(code, str):
            raise PlanFileError('"task_code" must name a task of the program')
        record = await run_in_threadpool(
            mro.record_done, principal.partner, principal.sub, aircraft_id, code
        )
        return OrjsonResponse(
            {"task_code": record.task_code, "at": record.at.isoformat(), "hours": record.hours,
             "cycles": record.cycles},
            status_code=201,
        )  # fmt: skip

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/defects",
        AIRCRAFT_MRO_WRITE,
        "Open a defect on your aircraft (e.g. from a log finding)",
    )
    async def open_defect(request: Request, aircraft_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_MRO_WRITE)
        await visible(principal.partner, aircraft_id)
        body = json_object(await request.body())
        defect = await run_in_threadpool(
            mro.open_defect, principal.partner, principal.sub, aircraft_id, body
        )
        return OrjsonResponse(
            {"id": defect.id, "title": defect.title, "critical": defect.critical}, 201
        )

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/defects/{defect_id}/close",
        AIRCRAFT_MRO_WRITE,
        "Close a defect (rectified)",
    )
    async def close_defect(request: Request, aircraft_id: str, defect_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_MRO_WRITE)
        await visible(principal.partner, aircraft_id)
        await run_in_threadpool(mro.close_defect, principal.partner, principal.sub, defect_id)
        return OrjsonResponse({"id": defect_id, "closed": True})

    return router
