"""HTTP adapter of the DSS: the ``/dss/v1`` API of ASTM F3548-21 (InterUSS ``astm-utm``).

Bodies are parsed with the ``uas_standards`` wire types, converted to the core's types by
``wire``, and handed to ``DssService`` on a worker thread. Errors keep the standard's
``{"message": ...}`` shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from uas_standards.astm.f3548.v21 import api

from dronecoop.airspace import wire
from dronecoop.airspace.dss import (
    SCOPE_AVAILABILITY_ARBITRATION as AA,
)
from dronecoop.airspace.dss import (
    SCOPE_CONFORMANCE_MONITORING_SA as CMSA,
)
from dronecoop.airspace.dss import (
    SCOPE_CONSTRAINT_MANAGEMENT as CM,
)
from dronecoop.airspace.dss import (
    SCOPE_CONSTRAINT_PROCESSING as CP,
)
from dronecoop.airspace.dss import (
    SCOPE_STRATEGIC_COORDINATION as SC,
)
from dronecoop.airspace.dss import (
    Area,
    Availabilities,
    Caller,
    ConstraintChange,
    ConstraintRequest,
    DssService,
    ImplicitSubscriptionRequest,
    OperationalIntentChange,
    OperationalIntentRequest,
    SubscriptionRequest,
    SubscriptionView,
    area_of,
)
from dronecoop.airspace.errors import AreaTooLarge, BadRequest, MissingKey
from dronecoop.airspace.model import ConstraintRef, ManagerID, OperationalIntentRef, UssAvailability
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind
from dronecoop.web.guard import Guard
from dronecoop.web.responses import OrjsonResponse, standard_error
from dronecoop.web.threads import run_in_threadpool

PREFIX = "/dss/v1"

# Scopes accepted per endpoint: any one of the listed scopes suffices (F3548-21 OpenAPI).
SCOPES_OIR_READ = (SC, CMSA)
SCOPES_OIR_WRITE = (SC, CMSA)
SCOPES_CR_READ = (CM, CP)
SCOPES_CR_WRITE = (CM,)
SCOPES_SUBSCRIPTIONS = (CP, SC)
SCOPES_REPORTS = (CM, CP, SC, CMSA, AA)
SCOPES_AVAILABILITY_READ = (AA, SC, CMSA)
SCOPES_AVAILABILITY_WRITE = (AA,)


MAX_JSON_DEPTH = 64  # the standard's deepest body nests ~8 levels


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed params: request body is not valid JSON ({exc})") from exc
    if _depth(body) > MAX_JSON_DEPTH:
        raise BadRequest(f"Malformed params: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def _depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (stops counting past MAX_JSON_DEPTH + 1).

    Level by level over the containers only: a body's many scalars are never pushed.
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level and depth <= MAX_JSON_DEPTH:
        depth += 1
        deeper: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            deeper += [c for c in children if type(c) in (dict, list)]
        level = deeper
    return depth


def _area(body: Any, what: str, *, require_outline: bool = True) -> Area:
    aoi = wire.require_object(body, what).get("area_of_interest")
    if aoi is None:
        raise BadRequest("Missing area_of_interest")
    volume = wire.parse_volume4d(aoi, "area_of_interest")
    return area_of([volume], field="area_of_interest", require_outline=require_outline)


def _oir(
    ref: OperationalIntentRef, caller: Caller, availabilities: Availabilities
) -> dict[str, Any]:
    return wire.operational_intent_reference(
        ref, show_ovn=caller.manages(ref), availability=availabilities.of(ref.manager)
    )


def _cr(ref: ConstraintRef, caller: Caller) -> dict[str, Any]:
    # InterUSS reports constraint managers' availability as Unknown.
    return wire.constraint_reference(
        ref, show_ovn=caller.manages(ref), availability=UssAvailability.UNKNOWN
    )


def _subscription(view: SubscriptionView) -> dict[str, Any]:
    return wire.subscription(view.subscription, view.dependent_operational_intents)


def _oir_change(change: OperationalIntentChange, caller: Caller) -> dict[str, Any]:
    return {
        "subscribers": wire.subscribers(change.subscribers),
        "operational_intent_reference": _oir(change.reference, caller, change.availabilities),
    }


def _cr_change(change: ConstraintChange, caller: Caller) -> dict[str, Any]:
    return {
        "subscribers": wire.subscribers(change.subscribers),
        "constraint_reference": _cr(change.reference, caller),
    }


def missing_key_response(exc: MissingKey, caller: Caller) -> Response:
    """409 AirspaceConflictResponse listing every entity whose OVN the key lacked."""
    availabilities = Availabilities(exc.availability_by_manager)
    body: dict[str, Any] = {"message": str(exc)}
    if exc.missing_operational_intents:
        body["missing_operational_intents"] = [
            _oir(ref, caller, availabilities) for ref in exc.missing_operational_intents
        ]
    if exc.missing_constraints:
        body["missing_constraints"] = [_cr(ref, caller) for ref in exc.missing_constraints]
    return OrjsonResponse(body, status_code=409)


def _key(body: Mapping[str, Any]) -> frozenset[str]:
    key = body.get("key")
    if key is None:
        return frozenset()
    if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        raise BadRequest("key must be a list of OVN strings")
    return frozenset(key)


def _oir_request(raw: Any) -> OperationalIntentRequest:
    what = "PutOperationalIntentReferenceParameters"
    body = wire.require_object(raw, what)
    new_sub = body.get("new_subscription")
    implicit = None
    if new_sub is not None:
        new_sub = wire.require_object(new_sub, "ImplicitSubscriptionParameters")
        implicit = ImplicitSubscriptionRequest(
            uss_base_url=wire.optional_str(new_sub, "uss_base_url") or "",
            notify_for_constraints=wire.optional_bool(new_sub, "notify_for_constraints"),
        )
    return OperationalIntentRequest(
        extents=area_of(wire.parse_volumes(body.get("extents"), "extents")),
        key=_key(body),
        state=wire.required_str(body, "state", what),
        uss_base_url=wire.required_str(body, "uss_base_url", what),
        subscription_id=wire.optional_str(body, "subscription_id"),
        new_subscription=implicit,
        requested_ovn_suffix=wire.optional_str(body, "requested_ovn_suffix"),
    )


def _cr_request(raw: Any) -> ConstraintRequest:
    what = "PutConstraintReferenceParameters"
    body = wire.require_object(raw, what)
    return ConstraintRequest(
        extents=area_of(wire.parse_volumes(body.get("extents"), "extents")),
        uss_base_url=wire.required_str(body, "uss_base_url", what),
    )


def _subscription_request(raw: Any) -> SubscriptionRequest:
    what = "PutSubscriptionParameters"
    body = wire.require_object(raw, what)
    extents = body.get("extents")
    if extents is None:
        raise BadRequest(f'Required field "extents" not specified in {what}')
    volume = wire.parse_volume4d(extents, "extents")
    return SubscriptionRequest(
        extents=area_of([volume], require_outline=False),
        uss_base_url=wire.required_str(body, "uss_base_url", what),
        notify_for_operational_intents=wire.optional_bool(body, "notify_for_operational_intents"),
        notify_for_constraints=wire.optional_bool(body, "notify_for_constraints"),
    )


Handler = Callable[[Request, Caller], Awaitable[Response]]

_RECORD_KINDS = {
    "/operational_intent_references": RecordKind.OPERATIONAL_INTENT_REFERENCE,
    "/constraint_references": RecordKind.CONSTRAINT_REFERENCE,
    "/subscriptions": RecordKind.SUBSCRIPTION,
}


def _record_kind(path: str) -> str | None:
    return next((kind for p, kind in _RECORD_KINDS.items() if path.startswith(p)), None)


def build_dss_router(service: DssService, guard: Guard) -> APIRouter:
    """The ``/dss/v1`` routes, each guarded by the scopes the standard gives it."""
    router = APIRouter(prefix=PREFIX, tags=["DSS (ASTM F3548-21)"])

    def route(
        method: str, path: str, scopes: tuple[str, ...], summary: str
    ) -> Callable[[Handler], Handler]:
        policy = RoutePolicy(
            any_of=scopes,
            record_kind=_record_kind(path),
            writes=method in ("PUT", "DELETE") or path == "/reports",
        )

        def decorate(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                principal = guard.admit(request, policy)
                caller = Caller(
                    manager=ManagerID(principal.sub),
                    scopes=principal.permissions,
                    partner=principal.partner,
                )
                try:
                    return await handler(request, caller)
                except MissingKey as exc:
                    return missing_key_response(exc, caller)

            endpoint.__name__ = handler.__name__
            paths = [path]
            # InterUSS routes empty trailing segments ({id}/ = empty OVN or version).
            if path.endswith("}") and path.count("{") == 2:
                paths.append(path.rsplit("/", 1)[0] + "/")
            for p in paths:
                guard.policies.declare(method, PREFIX + p, policy)
                router.add_api_route(
                    p,
                    endpoint,
                    methods=[method],
                    summary=summary,
                    include_in_schema=p == path,
                    openapi_extra={"security": [{"Authority": list(scopes)}]},
                )
            return handler

        return decorate

    def params(request: Request, name: str) -> str:
        return str(request.path_params.get(name, ""))

    # -- operational intent references ------------------------------------------------------
    @route(
        "POST",
        "/operational_intent_references/query",
        SCOPES_OIR_READ,
        "Query operational intent references",
    )
    async def query_operational_intents(request: Request, caller: Caller) -> Response:
        area = _area(await _json_body(request), "QueryOperationalIntentReferenceParameters")
        refs, avail = await run_in_threadpool(service.query_operational_intents, caller, area)
        return OrjsonResponse(
            {"operational_intent_references": [_oir(r, caller, avail) for r in refs]}
        )

    @route(
        "GET",
        "/operational_intent_references/{entityid}",
        SCOPES_OIR_READ,
        "Get an operational intent reference",
    )
    async def get_operational_intent(request: Request, caller: Caller) -> Response:
        ref, avail = await run_in_threadpool(
            service.get_operational_intent, caller, params(request, "entityid")
        )
        return OrjsonResponse({"operational_intent_reference": _oir(ref, caller, avail)})

    @route(
        "PUT",
        "/operational_intent_references/{entityid}",
        SCOPES_OIR_WRITE,
        "Create an operational intent reference",
    )
    async def create_operational_intent(request: Request, caller: Caller) -> Response:
        body = await _json_body(request)
        req = _oir_request(body)
        change = await run_in_threadpool(
            service.put_operational_intent, caller, params(request, "entityid"), None, req
        )
        return OrjsonResponse(_oir_change(change, caller), status_code=201)

    @route(
        "PUT",
        "/operational_intent_references/{entityid}/{ovn}",
        SCOPES_OIR_WRITE,
        "Update an operational intent reference",
    )
    async def update_operational_intent(request: Request, caller: Caller) -> Response:
        req = _oir_request(await _json_body(request))
        change = await run_in_threadpool(
            service.put_operational_intent,
            caller,
            params(request, "entityid"),
            params(request, "ovn"),
            req,
        )
        return OrjsonResponse(_oir_change(change, caller))

    @route(
        "DELETE",
        "/operational_intent_references/{entityid}/{ovn}",
        SCOPES_OIR_WRITE,
        "Delete an operational intent reference",
    )
    async def delete_operational_intent(request: Request, caller: Caller) -> Response:
        change = await run_in_threadpool(
            service.delete_operational_intent,
            caller,
            params(request, "entityid"),
            params(request, "ovn"),
        )
        return OrjsonResponse(_oir_change(change, caller))

    # -- constraint references ----------------------------------------------------------------
    @route("POST", "/constraint_references/query", SCOPES_CR_READ, "Query constraint references")
    async def query_constraints(request: Request, caller: Caller) -> Response:
        area = _area(await _json_body(request), "QueryConstraintReferenceParameters")
        refs = await run_in_threadpool(service.query_constraints, caller, area)
        return OrjsonResponse({"constraint_references": [_cr(r, caller) for r in refs]})

    @route("GET", "/constraint_references/{entityid}", SCOPES_CR_READ, "Get a constraint reference")
    async def get_constraint(request: Request, caller: Caller) -> Response:
        ref = await run_in_threadpool(service.get_constraint, caller, params(request, "entityid"))
        return OrjsonResponse({"constraint_reference": _cr(ref, caller)})

    @route(
        "PUT", "/constraint_references/{entityid}", SCOPES_CR_WRITE, "Create a constraint reference"
    )
    async def create_constraint(request: Request, caller: Caller) -> Response:
        req = _cr_request(await _json_body(request))
        change = await run_in_threadpool(
            service.put_constraint, caller, params(request, "entityid"), None, req
        )
        return OrjsonResponse(_cr_change(change, caller), status_code=201)

    @route(
        "PUT",
        "/constraint_references/{entityid}/{ovn}",
        SCOPES_CR_WRITE,
        "Update a constraint reference",
    )
    async def update_constraint(request: Request, caller: Caller) -> Response:
        req = _cr_request(await _json_body(request))
        change = await run_in_threadpool(
            service.put_constraint, caller, params(request, "entityid"), params(request, "ovn"), req
        )
        return OrjsonResponse(_cr_change(change, caller))

    @route(
        "DELETE",
        "/constraint_references/{entityid}/{ovn}",
        SCOPES_CR_WRITE,
        "Delete a constraint reference",
    )
    async def delete_constraint(request: Request, caller: Caller) -> Response:
        change = await run_in_threadpool(
            service.delete_constraint, caller, params(request, "entityid"), params(request, "ovn")
        )
        return OrjsonResponse(_cr_change(change, caller))

    # -- subscriptions --------------------------------------------------------------------------
    @route("POST", "/subscriptions/query", SCOPES_SUBSCRIPTIONS, "Query subscriptions")
    async def query_subscriptions(request: Request, caller: Caller) -> Response:
        try:
            area = _area(await _json_body(request), "QuerySubscriptionParameters")
        except AreaTooLarge as exc:
            return standard_error(413, str(exc))
        views = await run_in_threadpool(service.query_subscriptions, caller, area)
        return OrjsonResponse({"subscriptions": [_subscription(v) for v in views]})

    @route("GET", "/subscriptions/{subscriptionid}", SCOPES_SUBSCRIPTIONS, "Get a subscription")
    async def get_subscription(request: Request, caller: Caller) -> Response:
        view = await run_in_threadpool(
            service.get_subscription, caller, params(request, "subscriptionid")
        )
        return OrjsonResponse({"subscription": _subscription(view)})

    async def _put_subscription(request: Request, caller: Caller, version: str | None) -> Response:
        req = _subscription_request(await _json_body(request))
        change = await run_in_threadpool(
            service.put_subscription, caller, params(request, "subscriptionid"), version, req
        )
        body: dict[str, Any] = {"subscription": _subscription(change.view)}
        if change.operational_intents is not None:
            body["operational_intent_references"] = [
                _oir(r, caller, change.availabilities) for r in change.operational_intents
            ]
        if change.constraints is not None:
            body["constraint_references"] = [_cr(r, caller) for r in change.constraints]
        return OrjsonResponse(body)

    @route("PUT", "/subscriptions/{subscriptionid}", SCOPES_SUBSCRIPTIONS, "Create a subscription")
    async def create_subscription(request: Request, caller: Caller) -> Response:
        return await _put_subscription(request, caller, None)

    @route(
        "PUT",
        "/subscriptions/{subscriptionid}/{version}",
        SCOPES_SUBSCRIPTIONS,
        "Update a subscription",
    )
    async def update_subscription(request: Request, caller: Caller) -> Response:
        return await _put_subscription(request, caller, params(request, "version"))

    @route(
        "DELETE",
        "/subscriptions/{subscriptionid}/{version}",
        SCOPES_SUBSCRIPTIONS,
        "Delete a subscription",
    )
    async def delete_subscription(request: Request, caller: Caller) -> Response:
        view = await run_in_threadpool(
            service.delete_subscription,
            caller,
            params(request, "subscriptionid"),
            params(request, "version"),
        )
        return OrjsonResponse({"subscription": _subscription(view)})

    # -- reports and USS availability --------------------------------------------------------------
    @route("POST", "/reports", SCOPES_REPORTS, "Report a problem with a USS or the DSS")
    async def make_report(request: Request, caller: Caller) -> Response:
        body = await _json_body(request)
        report = wire.parse_body(body, api.ErrorReport)
        stored = await run_in_threadpool(service.record_report, caller, dict(report))
        return OrjsonResponse({**body, "report_id": stored}, status_code=201)

    @route(
        "GET", "/uss_availability/{uss_id}", SCOPES_AVAILABILITY_READ, "Get a USS's availability"
    )
    async def get_uss_availability(request: Request, caller: Caller) -> Response:
        status = await run_in_threadpool(
            service.get_uss_availability, caller, params(request, "uss_id")
        )
        return OrjsonResponse(wire.availability(status))

    @route(
        "PUT", "/uss_availability/{uss_id}", SCOPES_AVAILABILITY_WRITE, "Set a USS's availability"
    )
    async def set_uss_availability(request: Request, caller: Caller) -> Response:
        # Read by hand: InterUSS accepts availability states in any letter case.
        body = wire.require_object(await _json_body(request), "SetUssAvailabilityStatusParameters")
        status = await run_in_threadpool(
            service.set_uss_availability,
            caller,
            params(request, "uss_id"),
            wire.optional_str(body, "availability") or "",
            wire.optional_str(body, "old_version") or "",
        )
        return OrjsonResponse(wire.availability(status))

    return router
