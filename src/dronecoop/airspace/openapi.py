"""OpenAPI documentation of ``/dss/v1`` bodies, generated from the ``uas_standards`` types.

The DSS routes read their bodies by hand (see ``wire``), so FastAPI cannot infer their
schemas; this module describes each route's request and response with the standard's own
types, turned into JSON Schema by ``implicitdict.jsonschema``.
"""

from __future__ import annotations

import re
from typing import Any

from implicitdict import ImplicitDict
from implicitdict import jsonschema as idjs
from uas_standards.astm.f3548.v21 import api

from dronecoop.airspace.http import PREFIX

_REF = "#/components/schemas/"

# (method, path) -> (request body type or None, success status, response body type)
ROUTE_BODIES: dict[tuple[str, str], tuple[type[ImplicitDict] | None, int, type[ImplicitDict]]] = {
    ("post", "/operational_intent_references/query"): (
        api.QueryOperationalIntentReferenceParameters,
        200,
        api.QueryOperationalIntentReferenceResponse,
    ),
    ("get", "/operational_intent_references/{entityid}"): (
        None,
        200,
        api.GetOperationalIntentReferenceResponse,
    ),
    ("put", "/operational_intent_references/{entityid}"): (
        api.PutOperationalIntentReferenceParameters,
        201,
        api.ChangeOperationalIntentReferenceResponse,
    ),
    ("put", "/operational_intent_references/{entityid}/{ovn}"): (
        api.PutOperationalIntentReferenceParameters,
        200,
        api.ChangeOperationalIntentReferenceResponse,
    ),
    ("delete", "/operational_intent_references/{entityid}/{ovn}"): (
        None,
        200,
        api.ChangeOperationalIntentReferenceResponse,
    ),
    ("post", "/constraint_references/query"): (
        api.QueryConstraintReferenceParameters,
        200,
        api.QueryConstraintReferencesResponse,
    ),
    ("get", "/constraint_references/{entityid}"): (None, 200, api.GetConstraintReferenceResponse),
    ("put", "/constraint_references/{entityid}"): (
        api.PutConstraintReferenceParameters,
        201,
        api.ChangeConstraintReferenceResponse,
    ),
    ("put", "/constraint_references/{entityid}/{ovn}"): (
        api.PutConstraintReferenceParameters,
        200,
        api.ChangeConstraintReferenceResponse,
    ),
    ("delete", "/constraint_references/{entityid}/{ovn}"): (
        None,
        200,
        api.ChangeConstraintReferenceResponse,
    ),
    ("post", "/subscriptions/query"): (
        api.QuerySubscriptionParameters,
        200,
        api.QuerySubscriptionsResponse,
    ),
    ("get", "/subscriptions/{subscriptionid}"): (None, 200, api.GetSubscriptionResponse),
    ("put", "/subscriptions/{subscriptionid}"): (
        api.PutSubscriptionParameters,
        200,
        api.PutSubscriptionResponse,
    ),
    ("put", "/subscriptions/{subscriptionid}/{version}"): (
        api.PutSubscriptionParameters,
        200,
        api.PutSubscriptionResponse,
    ),
    ("delete", "/subscriptions/{subscriptionid}/{version}"): (
        None,
        200,
        api.DeleteSubscriptionResponse,
    ),
    ("post", "/reports"): (api.ErrorReport, 201, api.ErrorReport),
    ("get", "/uss_availability/{uss_id}"): (None, 200, api.UssAvailabilityStatusResponse),
    ("put", "/uss_availability/{uss_id}"): (
        api.SetUssAvailabilityStatusParameters,
        200,
        api.UssAvailabilityStatusResponse,
    ),
}


def _vars(schema_type: type) -> idjs.SchemaVars:
    return idjs.SchemaVars(
        name=schema_type.__name__, path_to=lambda target, _source: _REF + target.__name__
    )


def _content(schema_type: type[ImplicitDict]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + schema_type.__name__}}}


def document_dss_bodies(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add request/response schemas of the DSS routes to a FastAPI-generated document."""
    schemas: dict[str, Any] = {}
    error_types = [api.ErrorResponse, api.AirspaceConflictResponse]
    for body, _status, response in ROUTE_BODIES.values():
        for schema_type in (body, response):
            if schema_type is not None:
                idjs.make_json_schema(schema_type, _vars, schemas)
    for schema_type in error_types:
        idjs.make_json_schema(schema_type, _vars, schemas)
    for schema in schemas.values():
        schema.pop("$schema", None)
    openapi.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    for (method, path), (body, status, response) in ROUTE_BODIES.items():
        operation = openapi.get("paths", {}).get(PREFIX + path, {}).get(method)
        if operation is None:
            continue
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        if body is not None:
            operation["requestBody"] = {"required": True, "content": _content(body)}
        responses = {str(status): {"description": "Success", "content": _content(response)}}
        for code, meaning in (
            ("400", "Bad request"),
            ("401", "Bearer token missing or invalid"),
            ("403", "Token lacks the scope, or caller is not the manager"),
            ("404", "Not found"),
        ):
            responses[code] = {"description": meaning, "content": _content(api.ErrorResponse)}
        if method == "put" or method == "delete":
            responses["409"] = {
                "description": "Version mismatch or missing OVNs in key",
                "content": _content(api.AirspaceConflictResponse),
            }
        operation["responses"] = responses
    return openapi
