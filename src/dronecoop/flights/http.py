"""HTTP adapter of flights: ``/api/v1/flights`` (RFC 9457 errors).

Plan from a QGroundControl plan, GeoJSON or waypoints; refusals list each conflict as a
planner can act on it. Every partner sees every flight's volumes and state; a flight's
details reach only the partners its releasability allows, field by field.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dronecoop.flights.codec import volume_json
from dronecoop.flights.model import Flight
from dronecoop.flights.service import FlightService, mission_volumes
from dronecoop.planning.errors import PlanFileError
from dronecoop.planning.geojson import mission_from_geojson, mission_from_waypoints
from dronecoop.planning.inputs import json_object, rfc3339
from dronecoop.planning.mission import AltitudeReference, Mission
from dronecoop.planning.qgc import plan_from_document
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import Permission
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool

PREFIX = "/api/v1/flights"
READ = RoutePolicy(any_of=(Permission.FLIGHTS_READ,), record_kind=RecordKind.FLIGHT)
PLAN = RoutePolicy(any_of=(Permission.FLIGHTS_PLAN,), record_kind=RecordKind.FLIGHT, writes=True)
FLY = RoutePolicy(any_of=(Permission.FLIGHTS_FLY,), record_kind=RecordKind.FLIGHT, writes=True)
DEFAULT_GROUND_SPEED_MPS = 10.0


def build_flights_router(
    guard: Guard, flights: FlightService, policy: ReleasabilityPolicy
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["Flights"])

    route = guarded_routes(router, guard, PREFIX)

    def render(flight: Flight, viewer: str) -> dict[str, Any]:
        meta = _meta(flight)
        return {
            "id": flight.id,
            "partner": flight.partner,
            "state": flight.state.value,
            "priority": flight.priority,
            "volumes": [volume_json(v) for v in flight.volumes],
            "details": policy.redact(PartnerID(viewer), meta, flight.details),
            **({"released_to": sorted(flight.released_to)} if viewer == flight.partner else {}),
        }

    @route("POST", "", PLAN, "Plan a flight: deconflicted, then published to the DSS")
    async def plan(request: Request) -> Response:
        principal = guard.admit(request, PLAN)
        body = json_object(await request.body())
        mission = _mission(body)
        start = rfc3339(body.get("start"), "start")
        speed = _number(
            body, "ground_speed_mps", mission.cruise_speed_mps or DEFAULT_GROUND_SPEED_MPS
        )
        priority = _optional_number(body, "priority")
        flight = await run_in_threadpool(
            lambda: flights.plan(
                principal.partner,
                principal.sub,
                mission,
                start=start,
                ground_speed_mps=speed,
                priority=None if priority is None else int(priority),
                home_altitude_amsl_m=_optional_number(body, "home_altitude_amsl_m"),
                geoid_undulation_m=_number(body, "geoid_undulation_m", 0.0),
                released_to=frozenset(_strings(body, "released_to")),
                details=body.get("details") if isinstance(body.get("details"), dict) else None,
                flight_id=_optional_string(body, "id"),
            )
        )
        return OrjsonResponse(render(flight, principal.partner), status_code=201)

    @route("PUT", "/{flight_id}", PLAN, "Modify your partner's flight (new mission or start)")
    async def modify(request: Request, flight_id: str) -> Response:
        principal = guard.admit(request, PLAN)
        await visible(principal.partner, flight_id)
        body = json_object(await request.body())
        mission = _mission(body)
        speed = _number(
            body, "ground_speed_mps", mission.cruise_speed_mps or DEFAULT_GROUND_SPEED_MPS
        )
        ours = mission_volumes(
            mission,
            start=rfc3339(body.get("start"), "start"),
            ground_speed_mps=speed,
            home_altitude_amsl_m=_optional_number(body, "home_altitude_amsl_m"),
            geoid_undulation_m=_number(body, "geoid_undulation_m", 0.0),
        )
        priority = _optional_number(body, "priority")
        flight = await run_in_threadpool(
            lambda: flights.modify(
                principal.partner,
                principal.sub,
                flight_id,
                ours,
                priority=None if priority is None else int(priority),
            )
        )
        return OrjsonResponse(render(flight, principal.partner))

    @route("GET", "", READ, "Every flight you may see")
    async def list_flights(request: Request) -> Response:
        principal = guard.admit(request, READ)
        visible = [
            render(f, principal.partner)
            for f in await run_in_threadpool(flights.all_flights)
            if policy.visible(PartnerID(principal.partner), _meta(f))
        ]
        return OrjsonResponse({"flights": visible})

    @route("GET", "/{flight_id}", READ, "One flight")
    async def get_flight(request: Request, flight_id: str) -> Response:
        principal = guard.admit(request, READ)
        flight = await run_in_threadpool(flights.get, flight_id)
        if flight is None or not policy.visible(PartnerID(principal.partner), _meta(flight)):
            raise HTTPException(404, f"flight {flight_id} not found")
        return OrjsonResponse(render(flight, principal.partner))

    async def visible(principal_partner: str, flight_id: str) -> None:
        """404 for a flight the caller may not see, exactly as for one that does not exist."""
        flight = await run_in_threadpool(flights.get, flight_id)
        if flight is None or not policy.visible(PartnerID(principal_partner), _meta(flight)):
            raise HTTPException(404, f"flight {flight_id} not found")

    @route("POST", "/{flight_id}/activate", FLY, "Activate your partner's flight")
    async def activate(request: Request, flight_id: str) -> Response:
        principal = guard.admit(request, FLY)
        await visible(principal.partner, flight_id)
        flight = await run_in_threadpool(
            flights.activate, principal.partner, principal.sub, flight_id
        )
        return OrjsonResponse(render(flight, principal.partner))

    @route("POST", "/{flight_id}/end", FLY, "End your partner's flight")
    async def end(request: Request, flight_id: str) -> Response:
        principal = guard.admit(request, FLY)
        await visible(principal.partner, flight_id)
        flight = await run_in_threadpool(flights.end, principal.partner, principal.sub, flight_id)
        return OrjsonResponse(render(flight, principal.partner))

    return router


def build_peer_intents_router(guard: Guard, flights: FlightService) -> APIRouter:
    """``GET /api/v1/peer_intents``: other USSs' flights as their notifications told us."""
    prefix = "/api/v1/peer_intents"
    router = APIRouter(prefix=prefix, tags=["Flights"])
    route = guarded_routes(router, guard, prefix)

    @route("GET", "", READ, "Other USSs' flights this node was notified of")
    async def peer_intents(request: Request) -> Response:
        guard.admit(request, READ)
        found = await run_in_threadpool(flights.peer_intents)
        return OrjsonResponse({"peer_intents": [p.json() for p in found]})

    return router


def _meta(flight: Flight) -> RecordMeta:
    return RecordMeta(
        kind=RecordKind.FLIGHT,
        owner=PartnerID(flight.partner),
        released_to=frozenset(PartnerID(p) for p in flight.released_to),
    )


def _mission(body: dict[str, Any]) -> Mission:
    sources = [k for k in ("plan", "geojson", "waypoints") if k in body]
    if len(sources) != 1:
        raise PlanFileError('give exactly one of "plan" (QGroundControl), "geojson" or "waypoints"')
    if "plan" in body:
        return plan_from_document(body["plan"])
    reference = AltitudeReference(body.get("altitude_reference", AltitudeReference.HOME.value))
    home = body.get("home")
    home_tuple = None
    if isinstance(home, list) and _triple(home):
        home_tuple = (float(home[0]), float(home[1]), _float_or_none(home[2]))
    if "geojson" in body:
        return mission_from_geojson(
            body["geojson"],
            altitude_m=_number(body, "altitude_m", 60.0),
            reference=reference,
            home=home_tuple,
        )
    waypoints = body["waypoints"]
    if not isinstance(waypoints, list) or not all(_triple(w) for w in waypoints):
        raise PlanFileError("waypoints must be a list of [lat, lon, altitude_m]")
    return mission_from_waypoints(
        [(float(w[0]), float(w[1]), float(w[2])) for w in waypoints],
        reference=reference,
        home=home_tuple,
        returns_home=bool(body.get("returns_home", False)),
    )


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PlanFileError(f'"{key}" must be a number')
    return float(value)


def _optional_number(body: dict[str, Any], key: str) -> float | None:
    return None if body.get(key) is None else _number(body, key, 0.0)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _triple(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value
        )
    )


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise PlanFileError(f'"{key}" must be a string')
    return value


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PlanFileError(f'"{key}" must be a list of partner ids')
    return value
