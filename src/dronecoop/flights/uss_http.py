"""The partner's USS on the F3548 wire: ``/uss/v1`` (errors in the standard's shape).

``GET /uss/v1/operational_intents/{entityid}`` gives a peer USS the details of a flight
this node manages — its reference with the real OVN (how peers learn it) and its volumes
and priority — as far as the releasability policy lets the peer's partner see it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from dronecoop.airspace import wire
from dronecoop.airspace.dss import Caller, DssService
from dronecoop.airspace.errors import NotFound
from dronecoop.airspace.model import ManagerID
from dronecoop.flights.model import FlightState
from dronecoop.flights.service import FlightService
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import STRATEGIC_COORDINATION
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse

PREFIX = "/uss/v1"
DETAILS = RoutePolicy(any_of=(STRATEGIC_COORDINATION,), record_kind=RecordKind.FLIGHT)


def build_uss_router(
    guard: Guard, flights: FlightService, dss: DssService, policy: ReleasabilityPolicy
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
        manager = Caller(ManagerID(flight.manager), frozenset(), flight.partner)
        ref, availabilities = await run_in_threadpool(
            dss.get_operational_intent, manager, flight.id
        )
        reference = wire.operational_intent_reference(
            ref, show_ovn=True, availability=availabilities.of(ref.manager)
        )
        details = {
            "volumes": [wire.volume4d(v) for v in flight.volumes],
            "off_nominal_volumes": [],
            "priority": flight.priority,
        }
        return OrjsonResponse({"operational_intent": {"reference": reference, "details": details}})

    return router
