"""The partner's USS on the F3548 wire: ``/uss/v1`` (errors in the standard's shape).

``GET /uss/v1/operational_intents/{entityid}`` gives a peer USS the details of a flight
this node manages — its reference with the real OVN (how peers learn it) and its volumes
and priority — as far as the releasability policy lets the peer's partner see it.
``POST /uss/v1/operational_intents`` takes a peer's notification that one of its intents
changed or ended (kept, so that a later plan can use it while it is current).
``POST /uss/v1/reports`` keeps a peer's report of a problem with this USS (audited).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from uas_standards.astm.f3548.v21 import api

from dronecoop.airspace import wire
from dronecoop.airspace.dss import Caller
from dronecoop.airspace.errors import BadRequest, NotFound, PermissionDenied
from dronecoop.airspace.model import ManagerID
from dronecoop.flights.model import FlightState
from dronecoop.flights.peers import operational_intent_body, parse_operational_intent
from dronecoop.flights.service import FlightService
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import (
    AVAILABILITY_ARBITRATION,
    CONFORMANCE_MONITORING_SA,
    CONSTRAINT_MANAGEMENT,
    CONSTRAINT_PROCESSING,
    STRATEGIC_COORDINATION,
)
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool

PREFIX = "/uss/v1"
DETAILS = RoutePolicy(any_of=(STRATEGIC_COORDINATION,), record_kind=RecordKind.FLIGHT)
NOTIFY = RoutePolicy(any_of=(STRATEGIC_COORDINATION,), writes=True)
REPORT = RoutePolicy(
    any_of=(
        STRATEGIC_COORDINATION,
        CONSTRAINT_PROCESSING,
        CONSTRAINT_MANAGEMENT,
        CONFORMANCE_MONITORING_SA,
        AVAILABILITY_ARBITRATION,
    ),
    writes=True,
)


def build_uss_router(
    guard: Guard,
    flights: FlightService,
    policy: ReleasabilityPolicy,
    record_report: Callable[[Caller, dict[str, Any]], str],
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["USS (ASTM F3548-21)"])
    route = guarded_routes(router, guard, PREFIX)

    @route("GET", "/operational_intents/{entityid}", DETAILS, "Details of an operational intent")
    async def operational_intent(request: Request, entityid: str) -> Response:
        principal = guard.admit(request, DETAILS)
        flight = await run_in_threadpool(flights.get, entityid.lower())
        meta = RecordMeta(kind=RecordKind.FLIGHT, owner=PartnerID(flight.partner if flight else ""))
        if (
            flight is None
            or flight.state is FlightState.ENDED
            or not policy.visible(PartnerID(principal.partner), meta)
        ):
            raise NotFound(f"Requested operational intent {entityid} not found")
        ref = await run_in_threadpool(flights.reference, flight)
        body = operational_intent_body(ref, flight.volumes, flight.priority)
        return OrjsonResponse({"operational_intent": body})

    @route("POST", "/operational_intents", NOTIFY, "Notification of a changed operational intent")
    async def notify(request: Request) -> Response:
        principal = guard.admit(request, NOTIFY)
        try:
            body = wire.require_object(orjson.loads(await request.body()), "notification")
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        entity_id = wire.required_str(body, "operational_intent_id", "notification").lower()
        if not isinstance(body.get("subscriptions"), list):
            raise BadRequest('Required field "subscriptions" must be a list')
        intent = None
        if body.get("operational_intent") is not None:
            intent = parse_operational_intent(body["operational_intent"])
            if intent.reference.id.lower() != entity_id:
                raise BadRequest(
                    "operational_intent.reference.id differs from operational_intent_id"
                )
            if intent.reference.manager != principal.sub:  # only its manager speaks for it
                raise PermissionDenied(
                    f"{principal.sub} may not notify for an intent managed by "
                    f"{intent.reference.manager}"
                )
        await run_in_threadpool(
            flights.record_notification, principal.partner, principal.sub, entity_id, intent
        )
        return Response(status_code=204)

    @route("POST", "/reports", REPORT, "Report a problem with this USS (kept and audited)")
    async def report(request: Request) -> Response:
        principal = guard.admit(request, REPORT)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        parsed = wire.parse_body(body, api.ErrorReport)
        caller = Caller(ManagerID(principal.sub), principal.permissions, principal.partner)
        report_id = await run_in_threadpool(record_report, caller, dict(parsed))
        return OrjsonResponse({**body, "report_id": report_id}, status_code=201)

    return router
