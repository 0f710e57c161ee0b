"""The InterUSS automated-testing ``flight_planning`` interface (v0.7.0), under
``/flight_planning/v1``: how the community's ``uss_qualifier`` plans flights through this
USS, on the same code paths a planner uses (``FlightService``).

A flight plan is a flight of the caller's partner (its id is the flight's and the
operational intent's). ``usage_state`` Planned plans or modifies it, InUse activates it
(planning it first if new), Closed ends it. ``Hypothetical`` runs the deconfliction and
changes nothing. Not supported yet, and said so in the answer: ``InReality`` execution,
off-nominal UAS states (Nonconforming/Contingent come with telemetry), altitudes not
referenced to WGS-84. Types and values are those of
``uas_standards.interuss.automated_testing.flight_planning.v1``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from uas_standards.interuss.automated_testing.flight_planning.v1 import api
from uas_standards.interuss.automated_testing.flight_planning.v1.constants import Scope

from dronecoop.airspace import geo, wire
from dronecoop.airspace.errors import (
    AirspaceError,
    BadRequest,
    MissingKey,
    NotFound,
    PermissionDenied,
    VersionMismatch,
)
from dronecoop.flights.dss_client import DssUnavailable
from dronecoop.flights.model import Flight, FlightState
from dronecoop.flights.service import FlightService
from dronecoop.planning.errors import PlanningError
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool

PREFIX = "/flight_planning/v1"
DIRECTOR = RoutePolicy(any_of=(Scope.DirectAutomatedTest.value,), writes=True)
# The spec asks for direct_automated_test; uss_qualifier (and mock_uss) use plan: take both.
CLOSE = RoutePolicy(
    any_of=(Scope.DirectAutomatedTest.value, Scope.Plan.value),
    record_kind=RecordKind.FLIGHT,
    writes=True,
)
DIRECTOR_READ = RoutePolicy(any_of=(Scope.DirectAutomatedTest.value,))
PLANNER = RoutePolicy(any_of=(Scope.Plan.value,), writes=True)
PLANNER_READ = RoutePolicy(any_of=(Scope.Plan.value,))
REMEMBERED_REQUESTS = 1000

_STATUS = {
    FlightState.ACCEPTED: api.FlightPlanStatus.Planned,
    FlightState.ACTIVATED: api.FlightPlanStatus.OkToFly,
    FlightState.ENDED: api.FlightPlanStatus.Closed,
}


def _answer(
    result: api.PlanningActivityResult, status: api.FlightPlanStatus, notes: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "planning_result": result.value,
        "flight_plan_status": status.value,
        "includes_advisories": api.AdvisoryInclusion.NoAdvisoriesOrConditions.value,
    }
    if notes:
        body["notes"] = notes
    return body


def build_flight_planning_router(guard: Guard, flights: FlightService) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["InterUSS flight_planning (automated testing)"])
    route = guarded_routes(router, guard, PREFIX)
    answered: OrderedDict[str, dict[str, Any]] = OrderedDict()
    lock = threading.Lock()

    @route("GET", "/status", DIRECTOR_READ, "Readiness of the flight planning interface")
    async def status(request: Request) -> Response:
        guard.admit(request, DIRECTOR_READ)
        return OrjsonResponse(
            {
                "status": api.StatusResponseStatus.Ready.value,
                "api_name": "Flight Planning Automated Testing Interface",
                "api_version": "v0.7.0",
            }
        )

    @route("PUT", "/flight_plans/{flight_plan_id}", PLANNER, "Upsert a flight plan")
    async def upsert(request: Request, flight_plan_id: str) -> Response:
        principal = guard.admit(request, PLANNER)
        body = _object(await request.body())
        request_id = wire.required_str(body, "request_id", "UpsertFlightPlanRequest")
        key = f"{principal.partner}/{flight_plan_id.lower()}/{request_id}"
        with lock:
            if (previous := answered.get(key)) is not None:
                return OrjsonResponse(previous)
        answer = await run_in_threadpool(
            _upsert, flights, principal.partner, principal.sub, flight_plan_id, body
        )
        with lock:
            answered[key] = answer
            while len(answered) > REMEMBERED_REQUESTS:
                answered.popitem(last=False)
        return OrjsonResponse(answer)

    @route("DELETE", "/flight_plans/{flight_plan_id}", CLOSE, "Close a flight plan")
    async def delete(request: Request, flight_plan_id: str) -> Response:
        principal = guard.admit(request, CLOSE)
        flight = await run_in_threadpool(flights.get, flight_plan_id.lower())
        if flight is None:
            raise NotFound(f"flight plan {flight_plan_id} not found")
        if flight.partner != principal.partner:  # a test director acts for its partner only
            raise PermissionDenied(f"flight plan {flight_plan_id} is another partner's")
        if flight.state is not FlightState.ENDED:
            try:
                await run_in_threadpool(flights.end, flight.partner, principal.sub, flight.id)
            except (AirspaceError, PlanningError) as exc:
                status = _STATUS[flight.state]
                return OrjsonResponse(_answer(api.PlanningActivityResult.Failed, status, str(exc)))
        return OrjsonResponse(
            _answer(api.PlanningActivityResult.Completed, api.FlightPlanStatus.Closed)
        )

    @route("POST", "/clear_area_requests", DIRECTOR, "End every flight plan in an area")
    async def clear_area(request: Request) -> Response:
        principal = guard.admit(request, DIRECTOR)
        body = _object(await request.body())
        extent = wire.parse_volume4d(body.get("extent"), "extent")
        cleared = await run_in_threadpool(_clear, flights, principal.partner, principal.sub, extent)
        return OrjsonResponse(
            {"outcome": {"success": True, "message": f"ended {cleared} flight plan(s)"}}
        )

    @route("GET", "/user_notifications", PLANNER_READ, "Notifications the virtual user saw")
    async def user_notifications(request: Request) -> Response:
        guard.admit(request, PLANNER_READ)
        if "after" not in request.query_params:
            raise BadRequest('query parameter "after" is required')
        # This USS shows its users no notifications yet (conflicts come as refusals).
        return OrjsonResponse({"user_notifications": []})

    return router


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _upsert(
    flights: FlightService, partner: str, actor: str, plan_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    existing = flights.get(plan_id.lower())
    current = _STATUS[existing.state] if existing else api.FlightPlanStatus.NotPlanned
    plan = wire.require_object(body.get("flight_plan"), "flight_plan")
    basic = wire.require_object(plan.get("basic_information"), "flight_plan.basic_information")
    usage = str(basic.get("usage_state"))
    uas_state = str(basic.get("uas_state") or api.FunctionalState.Nominal.value)
    style = str(body.get("execution_style"))
    not_supported = api.PlanningActivityResult.NotSupported
    if style not in {s.value for s in api.ExecutionStyle}:
        raise BadRequest(f"execution_style {style!r} is not one of the interface's")
    if usage not in {s.value for s in api.BasicFlightPlanInformationUsageState}:
        raise BadRequest(f"usage_state {usage!r} is not one of the interface's")
    if style == api.ExecutionStyle.InReality.value:
        return _answer(not_supported, current, "InReality execution is not supported yet")
    if uas_state in (api.FunctionalState.OffNominal.value, api.FunctionalState.Contingent.value):
        return _answer(not_supported, current, "off-nominal UAS states come with telemetry")
    if existing is not None and existing.partner != partner:
        return _answer(
            api.PlanningActivityResult.Rejected, current, "this flight plan is another partner's"
        )
    if usage == api.BasicFlightPlanInformationUsageState.Closed.value:
        if (
            existing is not None
            and existing.state is not FlightState.ENDED
            and style == api.ExecutionStyle.IfAllowed.value
        ):
            flights.end(partner, actor, existing.id)
        return _answer(api.PlanningActivityResult.Completed, api.FlightPlanStatus.Closed)
    area = basic.get("area") or []
    if not isinstance(area, list) or not area:
        raise BadRequest("flight_plan.basic_information.area must hold at least one volume")
    if any(_reference(v) != "W84" for v in area):
        return _answer(not_supported, current, "only altitudes referenced to W84 are supported")
    volumes = wire.parse_volumes(area, "flight_plan.basic_information.area")
    priority = _priority(plan)
    in_use = usage == api.BasicFlightPlanInformationUsageState.InUse.value
    try:
        if style == api.ExecutionStyle.Hypothetical.value:
            ignore = existing.id if existing else None
            flights.check(partner, volumes, priority, ignore=ignore)
            wanted = api.FlightPlanStatus.OkToFly if in_use else api.FlightPlanStatus.Planned
            return _answer(api.PlanningActivityResult.Completed, wanted)
        flight = _apply(flights, partner, actor, plan_id, existing, volumes, priority, in_use)
    except (DssUnavailable, MissingKey, VersionMismatch) as exc:  # the system, not the plan
        return _answer(api.PlanningActivityResult.Failed, current, str(exc))
    except (PlanningError, AirspaceError) as exc:  # a conflict, or a plan the rules refuse
        return _answer(api.PlanningActivityResult.Rejected, current, str(exc))
    return _answer(api.PlanningActivityResult.Completed, _STATUS[flight.state])


def _apply(
    flights: FlightService,
    partner: str,
    actor: str,
    plan_id: str,
    existing: Flight | None,
    volumes: list[geo.Volume4D],
    priority: int,
    in_use: bool,
) -> Flight:
    if existing is None or existing.state is FlightState.ENDED:
        if existing is not None:
            raise PlanningError(f"flight plan {plan_id} was closed; plan a new one")
        flight = flights.plan_volumes(partner, actor, volumes, priority=priority, flight_id=plan_id)
    elif tuple(volumes) != existing.volumes or priority != existing.priority:
        flight = flights.modify(partner, actor, existing.id, volumes, priority=priority)
    else:
        flight = existing
    if in_use and flight.state is FlightState.ACCEPTED:
        flight = flights.activate(partner, actor, flight.id)
    return flight


def _reference(volume: Any) -> str:
    inner = volume.get("volume") if isinstance(volume, dict) else None
    for name in ("altitude_lower", "altitude_upper"):
        altitude = inner.get(name) if isinstance(inner, dict) else None
        if isinstance(altitude, dict) and altitude.get("reference", "W84") != "W84":
            return str(altitude.get("reference"))
    return "W84"


def _priority(plan: Mapping[str, Any]) -> int:
    info = plan.get("astm_f3548_21")
    value = info.get("priority", 0) if isinstance(info, dict) else 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("flight_plan.astm_f3548_21.priority must be an integer")
    return value


def _clear(flights: FlightService, partner: str, actor: str, extent: geo.Volume4D) -> int:
    """End the caller's partner's flights in ``extent`` (never another partner's)."""
    cleared = 0
    for flight in flights.all_flights():
        if (
            flight.partner == partner
            and flight.state is not FlightState.ENDED
            and geo.any_intersect(flight.volumes, [extent])
        ):
            flights.end(flight.partner, actor, flight.id)
            cleared += 1
    return cleared
