"""HTTP adapters of zones: ``/api/v1/zones`` for people, ``/uss/v1/constraints`` for peers.

Publishing takes a GeoJSON document or an ED-269 one and a time window; every zone in it
is published on its own and the answer says, zone by zone, what was published, what was
left out (and why) and what failed. Restricted areas are shared by design: every partner
sees every zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from dronecoop.airspace import wire
from dronecoop.airspace.errors import AirspaceError, BadRequest, NotFound
from dronecoop.flights.codec import volume_json
from dronecoop.flights.peers import constraint_body, parse_constraint
from dronecoop.planning.errors import PlanFileError, PlanningError
from dronecoop.planning.inputs import json_object, rfc3339
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind
from dronecoop.trust.roles import CONSTRAINT_MANAGEMENT, CONSTRAINT_PROCESSING, Permission
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool
from dronecoop.zones.formats import zones_from_ed269, zones_from_geojson
from dronecoop.zones.model import Zone, ZoneDraft
from dronecoop.zones.service import ZoneService

PREFIX = "/api/v1/zones"
READ = RoutePolicy(any_of=(Permission.FLIGHTS_READ, CONSTRAINT_PROCESSING))
PUBLISH = RoutePolicy(any_of=(CONSTRAINT_MANAGEMENT,), writes=True)
WITHDRAW = RoutePolicy(
    any_of=(CONSTRAINT_MANAGEMENT,), record_kind=RecordKind.CONSTRAINT_REFERENCE, writes=True
)
PEER_DETAILS = RoutePolicy(any_of=(CONSTRAINT_PROCESSING,))
PEER_NOTIFY = RoutePolicy(any_of=(CONSTRAINT_PROCESSING,), writes=True)
DEFAULT_WINDOW = timedelta(hours=24)


def zone_json(zone: Zone) -> dict[str, Any]:
    return {
        "id": zone.id,
        "partner": zone.partner,
        "name": zone.name,
        "restriction": zone.restriction.value,
        "withdrawn": zone.withdrawn,
        "volumes": [volume_json(v) for v in zone.volumes],
        "source": zone.source,
    }


def build_zones_router(guard: Guard, zones: ZoneService) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["Zones (restricted areas)"])
    route = guarded_routes(router, guard, PREFIX)

    @route("POST", "", PUBLISH, "Publish restricted areas from GeoJSON or ED-269")
    async def publish(request: Request) -> Response:
        principal = guard.admit(request, PUBLISH)
        body = json_object(await request.body())
        drafts, skipped = _drafts(body)
        published, failed = [], []
        for draft in drafts:
            try:
                zone = await run_in_threadpool(
                    zones.publish, principal.partner, principal.sub, draft
                )
                published.append(zone_json(zone))
            except (AirspaceError, PlanningError) as exc:
                failed.append({"name": draft.name, "error": str(exc)})
        status = 201 if published or not failed else 400
        answer = {"published": published, "skipped": skipped, "failed": failed}
        if status == 400:
            answer |= {"title": "No zone published", "status": 400, "detail": failed[0]["error"]}
        return OrjsonResponse(answer, status_code=status)

    @route("GET", "", READ, "Every restricted area (all partners')")
    async def list_zones(request: Request) -> Response:
        guard.admit(request, READ)
        found = await run_in_threadpool(zones.all_zones)
        return OrjsonResponse({"zones": [zone_json(z) for z in found]})

    @route("DELETE", "/{zone_id}", WITHDRAW, "Withdraw your partner's restricted area")
    async def withdraw(request: Request, zone_id: str) -> Response:
        principal = guard.admit(request, WITHDRAW)
        zone = await run_in_threadpool(zones.withdraw, principal.partner, principal.sub, zone_id)
        return OrjsonResponse(zone_json(zone))

    return router


def build_uss_constraints_router(guard: Guard, zones: ZoneService) -> APIRouter:
    prefix = "/uss/v1/constraints"
    router = APIRouter(prefix=prefix, tags=["USS (ASTM F3548-21)"])
    route = guarded_routes(router, guard, prefix)

    @route("GET", "/{entityid}", PEER_DETAILS, "Details of a constraint")
    async def constraint(request: Request, entityid: str) -> Response:
        guard.admit(request, PEER_DETAILS)
        zone = await run_in_threadpool(zones.get, entityid.lower())
        if zone is None or zone.withdrawn:
            raise NotFound(f"Requested constraint {entityid} not found")
        ref = await run_in_threadpool(zones.reference, zone)
        body = constraint_body(ref, zone.volumes, zone.kind)
        return OrjsonResponse({"constraint": body})

    @route("POST", "", PEER_NOTIFY, "Notification of a changed constraint")
    async def notify(request: Request) -> Response:
        guard.admit(request, PEER_NOTIFY)
        try:
            raw = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        body = wire.require_object(raw, "notification")
        constraint_id = wire.required_str(body, "constraint_id", "notification")
        if not isinstance(body.get("subscriptions"), list):
            raise BadRequest('Required field "subscriptions" must be a list')
        if body.get("constraint") is not None:
            parsed = parse_constraint(body["constraint"])
            if parsed.reference.id.lower() != constraint_id.lower():
                raise BadRequest("constraint.reference.id differs from constraint_id")
        # Planning asks the DSS and the managing USS afresh; nothing to keep here yet.
        return Response(status_code=204)

    return router


def _drafts(body: dict[str, Any]) -> tuple[list[ZoneDraft], list[str]]:
    start = rfc3339(body.get("start"), "start") if body.get("start") else datetime.now(UTC)
    end = rfc3339(body.get("end"), "end") if body.get("end") else start + DEFAULT_WINDOW
    if end <= start:
        raise PlanFileError('"end" must be after "start"')
    sources = [k for k in ("geojson", "ed269") if k in body]
    if len(sources) != 1:
        raise PlanFileError('give exactly one of "geojson" or "ed269"')
    if "ed269" in body:
        return zones_from_ed269(
            body["ed269"],
            start=start,
            end=end,
            ground_amsl_m=_number(body, "ground_amsl_m"),
            geoid_undulation_m=_number(body, "geoid_undulation_m") or 0.0,
        )
    drafts = zones_from_geojson(
        body["geojson"],
        start=start,
        end=end,
        lower_w84_m=_number(body, "lower_w84_m"),
        upper_w84_m=_number(body, "upper_w84_m"),
    )
    return drafts, []


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanFileError(f'"{key}" must be a number')
    return float(value)
