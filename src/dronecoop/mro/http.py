"""HTTP adapters of maintenance: ``/api/v1/mro`` (programs, due-list) and an aircraft's
maintenance records and defects. An aircraft's owner records and sees its maintenance;
depots assigned by work orders come later."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dronecoop.fleet.http import log_meta
from dronecoop.fleet.model import Aircraft, StoredLog
from dronecoop.mro.service import AircraftDue, MroService, WorkOrderService
from dronecoop.mro.workorders import WorkOrder
from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.inputs import json_object
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import Permission
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool

MRO_READ = RoutePolicy(any_of=(Permission.MRO_READ,))
MRO_WRITE = RoutePolicy(any_of=(Permission.MRO_WRITE,), writes=True)
FLEET_WRITE = RoutePolicy(any_of=(Permission.FLEET_WRITE,), writes=True)
AIRCRAFT_FLEET_WRITE = RoutePolicy(
    any_of=(Permission.FLEET_WRITE,), record_kind=RecordKind.AIRCRAFT, writes=True
)
AIRCRAFT_FLEET_READ = RoutePolicy(any_of=(Permission.FLEET_READ,), record_kind=RecordKind.AIRCRAFT)
AIRCRAFT_MRO_WRITE = RoutePolicy(
    any_of=(Permission.MRO_WRITE,), record_kind=RecordKind.AIRCRAFT, writes=True
)


def maintenance_meta(aircraft: Aircraft, assigned: frozenset[str]) -> RecordMeta:
    """An aircraft's maintenance records: its owner and the depots an open order assigns
    (not the partners the aircraft itself is merely released to)."""
    return RecordMeta(
        kind=RecordKind.MAINTENANCE_RECORD,
        owner=PartnerID(aircraft.partner),
        assigned_to=frozenset(PartnerID(p) for p in assigned),
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
            {
                "id": d.id,
                "title": d.title,
                "critical": d.critical,
                "source": d.source,
                "deferred_until": d.deferred_until.isoformat() if d.deferred_until else None,
                "deferred_hours_limit": d.deferred_hours_limit,
                "deferral_reason": d.deferral_reason,
            }
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
                # What to send to /maintenance to record it done:
                "task_code": i.program_code or i.task.code,
                "component_id": i.component_id,
            }
            for i in due.items
        ],
    }


def build_mro_router(
    guard: Guard,
    mro: MroService,
    policy: ReleasabilityPolicy,
    assigned: Callable[[str], frozenset[str]],
) -> APIRouter:
    router = APIRouter(tags=["Maintenance (MRO)"])
    route = guarded_routes(router, guard, "")

    async def visible(partner: str, aircraft_id: str) -> None:
        """404 for an aircraft whose maintenance the caller may not see, exactly as for one
        that does not exist."""
        aircraft = await run_in_threadpool(mro.fleet.aircraft, aircraft_id)
        meta = None if aircraft is None else maintenance_meta(aircraft, assigned(aircraft.id))
        if meta is None or not policy.visible(PartnerID(partner), meta):
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
                if policy.visible(viewer, maintenance_meta(a, assigned(a.id)))
            ]

        return OrjsonResponse({"aircraft": await run_in_threadpool(compute)})

    @route("POST", "/api/v1/components", FLEET_WRITE, "Register a component (serial, life limits)")
    async def add_component(request: Request) -> Response:
        principal = guard.admit(request, FLEET_WRITE)
        body = json_object(await request.body())
        c = await run_in_threadpool(mro.add_component, principal.partner, principal.sub, body)
        return OrjsonResponse(
            {"id": c.id, "part_number": c.part_number, "serial": c.serial, "kind": c.kind}, 201
        )

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/components/{component_id}/install",
        AIRCRAFT_FLEET_WRITE,
        "Fit a component to your aircraft (at a position, under a parent component)",
    )
    async def install(request: Request, aircraft_id: str, component_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_FLEET_WRITE)
        await visible(principal.partner, aircraft_id)
        body = json_object(await request.body())
        spell = await run_in_threadpool(
            mro.install, principal.partner, principal.sub, aircraft_id, component_id, body
        )
        return OrjsonResponse(
            {"component_id": spell.component_id, "position": spell.position,
             "hours_at_install": spell.hours_at_install}, 201,
        )  # fmt: skip

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/components/{component_id}/remove",
        AIRCRAFT_FLEET_WRITE,
        "Remove a component from your aircraft",
    )
    async def remove(request: Request, aircraft_id: str, component_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_FLEET_WRITE)
        await visible(principal.partner, aircraft_id)
        await run_in_threadpool(
            mro.remove, principal.partner, principal.sub, aircraft_id, component_id
        )
        return OrjsonResponse({"component_id": component_id, "removed": True})

    @route(
        "GET",
        "/api/v1/aircraft/{aircraft_id}/configuration",
        AIRCRAFT_FLEET_READ,
        "What is fitted to an aircraft: the component tree, time since new, life left",
    )
    async def configuration(request: Request, aircraft_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_FLEET_READ)
        await visible(principal.partner, aircraft_id)
        aircraft = await run_in_threadpool(mro.fleet.aircraft, aircraft_id)
        assert aircraft is not None  # visible() found it
        fitted = await run_in_threadpool(mro.configuration, aircraft)
        viewer = PartnerID(principal.partner)

        def may_see(log: StoredLog) -> bool:
            depots = assigned(log.aircraft_id) if log.aircraft_id else frozenset()
            return policy.visible(viewer, log_meta(log, depots))

        health = {
            c.id: (await run_in_threadpool(mro.battery_health, c, may_see)).as_dict()
            for c, _, _, _ in fitted
            if c.kind == "battery"
        }
        return OrjsonResponse(
            {
                "aircraft_id": aircraft_id,
                "components": [
                    {
                        "id": c.id,
                        "part_number": c.part_number,
                        "serial": c.serial,
                        "description": c.description,
                        "kind": c.kind,
                        "position": spell.position,
                        "parent_id": spell.parent_id,
                        "tsn_hours": round(hours, 3),
                        "tsn_cycles": cycles,
                        "life_hours_left": None
                        if c.life_hours is None
                        else round(c.life_hours - hours, 3),
                        "life_cycles_left": None
                        if c.life_cycles is None
                        else c.life_cycles - cycles,
                    }
                    | ({"health": health[c.id]} if c.id in health else {})
                    for c, spell, hours, cycles in fitted
                ],
            }
        )

    @route("POST", "/api/v1/baselines", FLEET_WRITE, "A model's parameter baseline")
    async def add_baseline(request: Request) -> Response:
        principal = guard.admit(request, FLEET_WRITE)
        body = json_object(await request.body())
        count = await run_in_threadpool(mro.add_baseline, principal.partner, principal.sub, body)
        return OrjsonResponse({"model": body.get("model"), "name": body.get("name"),
                               "parameters": count}, 201)  # fmt: skip

    @route(
        "GET",
        "/api/v1/aircraft/{aircraft_id}/baseline_check",
        AIRCRAFT_FLEET_READ,
        "The aircraft's last log's parameters against its model's baseline",
    )
    async def baseline_check(request: Request, aircraft_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_FLEET_READ)
        await visible(principal.partner, aircraft_id)
        name = request.query_params.get("baseline", "default")
        result = await run_in_threadpool(mro.baseline_check, aircraft_id, name)
        return OrjsonResponse(result)

    @route("GET", "/api/v1/mro/due.csv", MRO_READ, "The due-list as CSV")
    async def due_csv(request: Request) -> Response:
        principal = guard.admit(request, MRO_READ)
        viewer = PartnerID(principal.partner)

        def compute() -> str:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(
                ["aircraft_id", "partner", "model", "serial", "airworthy", "hours", "cycles",
                 "next_task", "next_status", "next_due", "open_defects", "reasons"]
            )  # fmt: skip
            for a in mro.fleet.all_aircraft():
                if not policy.visible(viewer, maintenance_meta(a, assigned(a.id))):
                    continue
                due = mro.due(a)
                nxt = next(
                    (i for i in due.items if i.forecast), due.items[0] if due.items else None
                )
                writer.writerow(
                    [a.id, a.partner, a.model, a.serial, due.verdict.airworthy,
                     f"{due.usage.hours:.2f}", due.usage.cycles,
                     nxt.task.code if nxt else "", nxt.status.value if nxt else "",
                     nxt.forecast.date().isoformat() if nxt and nxt.forecast else "",
                     len(due.defects), "; ".join(due.verdict.reasons)]
                )  # fmt: skip
            return out.getvalue()

        body = await run_in_threadpool(compute)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="fleet-due.csv"'},
        )

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/maintenance",
        AIRCRAFT_MRO_WRITE,
        "Record a program task done on your aircraft (or a component fitted to it)",
    )
    async def done(request: Request, aircraft_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_MRO_WRITE)
        await visible(principal.partner, aircraft_id)
        body = json_object(await request.body())
        code = body.get("task_code")
        if not isinstance(code, str):
            raise PlanFileError('"task_code" must name a task of the program')
        component = body.get("component_id")
        if component is not None and not isinstance(component, str):
            raise PlanFileError('"component_id" names a component fitted to the aircraft')
        record = await run_in_threadpool(
            mro.record_done, principal.partner, principal.sub, aircraft_id, code, component
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
        "/api/v1/aircraft/{aircraft_id}/defects/{defect_id}/defer",
        AIRCRAFT_MRO_WRITE,
        "Defer a defect: fly with it until a date or an hours limit, with a reason",
    )
    async def defer_defect(request: Request, aircraft_id: str, defect_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_MRO_WRITE)
        await visible(principal.partner, aircraft_id)
        body = json_object(await request.body())
        await run_in_threadpool(
            mro.defer_defect, principal.partner, principal.sub, aircraft_id, defect_id, body
        )
        return OrjsonResponse({"id": defect_id, "deferred": True})

    @route(
        "POST",
        "/api/v1/aircraft/{aircraft_id}/defects/{defect_id}/close",
        AIRCRAFT_MRO_WRITE,
        "Close a defect (rectified)",
    )
    async def close_defect(request: Request, aircraft_id: str, defect_id: str) -> Response:
        principal = guard.admit(request, AIRCRAFT_MRO_WRITE)
        await visible(principal.partner, aircraft_id)
        await run_in_threadpool(
            mro.close_defect, principal.partner, principal.sub, aircraft_id, defect_id
        )
        return OrjsonResponse({"id": defect_id, "closed": True})

    return router


WO_READ = RoutePolicy(any_of=(Permission.MRO_READ,))
WO_ONE = RoutePolicy(any_of=(Permission.MRO_READ,), record_kind=RecordKind.WORK_ORDER)
WO_WRITE = RoutePolicy(any_of=(Permission.MRO_WRITE,), writes=True)
WO_STEP = RoutePolicy(
    any_of=(Permission.MRO_WRITE,), record_kind=RecordKind.WORK_ORDER, writes=True
)


def work_order_json(order: WorkOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "aircraft_id": order.aircraft_id,
        "owner": order.owner,
        "depot": order.depot,
        "status": order.status.value,
        "opened_by": order.opened_by,
        "opened_at": order.opened_at.isoformat() if order.opened_at else None,
        "closed_at": order.closed_at.isoformat() if order.closed_at else None,
        "cards": [
            {
                "index": i,
                "title": c.title,
                "critical": c.critical,
                "task_code": c.task_code,
                "defect_id": c.defect_id,
                "signed_by": c.signed_by,
                "inspected_by": c.inspected_by,
                "complete": c.complete,
            }
            for i, c in enumerate(order.cards)
        ],
        "parts": [
            {"part_number": p.part_number, "quantity": p.quantity, "drawn_by": p.drawn_by}
            for p in order.parts
        ],
    }


def build_work_orders_router(guard: Guard, orders: WorkOrderService) -> APIRouter:
    router = APIRouter(tags=["Maintenance (MRO)"])
    route = guarded_routes(router, guard, "")

    @route("POST", "/api/v1/workorders", WO_WRITE, "Open a work order on your aircraft")
    async def open_order(request: Request) -> Response:
        principal = guard.admit(request, WO_WRITE)
        body = json_object(await request.body())
        order = await run_in_threadpool(orders.open, principal.partner, principal.sub, body)
        return OrjsonResponse(work_order_json(order), status_code=201)

    @route("GET", "/api/v1/workorders", WO_READ, "Work orders on your aircraft or at your depot")
    async def list_orders(request: Request) -> Response:
        principal = guard.admit(request, WO_READ)
        found = await run_in_threadpool(orders.store.all)
        return OrjsonResponse(
            {
                "work_orders": [
                    work_order_json(o) for o in found if orders.visible_to(principal.partner, o)
                ]
            }
        )

    @route("GET", "/api/v1/workorders/{order_id}", WO_ONE, "One work order")
    async def get_order(request: Request, order_id: str) -> Response:
        principal = guard.admit(request, WO_ONE)
        order, _ = await run_in_threadpool(orders.get, principal.partner, order_id)
        return OrjsonResponse(work_order_json(order))

    @route(
        "POST",
        "/api/v1/workorders/{order_id}/cards/{index}/sign",
        WO_STEP,
        "Sign a task card (the technician)",
    )
    async def sign(request: Request, order_id: str, index: str) -> Response:
        principal = guard.admit(request, WO_STEP)
        order = await run_in_threadpool(
            orders.sign, principal.partner, principal.sub, order_id, _index(index), False
        )
        return OrjsonResponse(work_order_json(order))

    @route(
        "POST",
        "/api/v1/workorders/{order_id}/cards/{index}/inspect",
        WO_STEP,
        "Inspect a critical task card (a second person)",
    )
    async def inspect(request: Request, order_id: str, index: str) -> Response:
        principal = guard.admit(request, WO_STEP)
        order = await run_in_threadpool(
            orders.sign, principal.partner, principal.sub, order_id, _index(index), True
        )
        return OrjsonResponse(work_order_json(order))

    @route("POST", "/api/v1/workorders/{order_id}/parts", WO_STEP, "Draw a part from the depot")
    async def draw(request: Request, order_id: str) -> Response:
        principal = guard.admit(request, WO_STEP)
        await run_in_threadpool(orders.get, principal.partner, order_id)  # 404 before 400
        body = json_object(await request.body())
        part, quantity = body.get("part_number"), body.get("quantity", 1)
        if not isinstance(part, str) or isinstance(quantity, bool) or not isinstance(quantity, int):
            raise PlanFileError('give "part_number" (text) and "quantity" (a whole number)')
        order = await run_in_threadpool(
            orders.draw, principal.partner, principal.sub, order_id, part, quantity
        )
        return OrjsonResponse(work_order_json(order))

    @route(
        "POST", "/api/v1/workorders/{order_id}/complete", WO_STEP, "Complete (sign off) the order"
    )
    async def complete(request: Request, order_id: str) -> Response:
        principal = guard.admit(request, WO_STEP)
        order = await run_in_threadpool(orders.complete, principal.partner, principal.sub, order_id)
        return OrjsonResponse(work_order_json(order))

    @route("POST", "/api/v1/inventory", WO_WRITE, "Stock parts in your depot")
    async def stock(request: Request) -> Response:
        principal = guard.admit(request, WO_WRITE)
        body = json_object(await request.body())
        part, quantity = body.get("part_number"), body.get("quantity")
        if (
            not isinstance(part, str)
            or not 0 < len(part.strip()) <= 128
            or isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or quantity <= 0
        ):
            raise PlanFileError(
                'give "part_number" (text, up to 128 characters) and "quantity" (1 or more)'
            )
        part = part.strip()
        on_hand = await run_in_threadpool(
            lambda: orders.store.stock(
                principal.partner,
                part,
                str(body.get("description", ""))[:255],
                quantity,
                actor=principal.sub,
            )
        )
        return OrjsonResponse({"part_number": part, "quantity": on_hand}, status_code=201)

    @route("GET", "/api/v1/inventory", WO_READ, "Your depot's parts")
    async def inventory(request: Request) -> Response:
        principal = guard.admit(request, WO_READ)
        rows = await run_in_threadpool(orders.store.inventory, principal.partner)
        return OrjsonResponse(
            {"parts": [{"part_number": n, "description": d, "quantity": q} for n, d, q in rows]}
        )

    return router


def _index(raw: str) -> int:
    """A card's number from the path (after the guard: a bad token is 401, not 400)."""
    if not raw.isdigit():
        raise PlanFileError(f"card index must be a number, got {raw!r}")
    return int(raw)
