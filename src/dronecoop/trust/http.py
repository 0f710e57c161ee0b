"""HTTP adapter of the trust layer: the caller's audit entries and the partners' view.

``/api/v1/audit/...`` serves a partner its own entries (audit entries are owner-only):
another partner's entry answers 404, exactly like one that does not exist.
``/api/v1/partners/...`` lists the partners and shows who may see a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse

from dronecoop.store.audit_sql import SqlAuditLog
from dronecoop.trust.audit import entry_json
from dronecoop.trust.partners import PartnerID, Partners
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import Permission
from dronecoop.web.guard import Guard
from dronecoop.web.responses import OrjsonResponse

PREFIX = "/api/v1"
AUDIT_READ = RoutePolicy(any_of=(Permission.AUDIT_READ,), record_kind=RecordKind.AUDIT_ENTRY)
PARTNERS_READ = RoutePolicy(any_of=(Permission.PARTNERS_READ,))


def _documented(policy: RoutePolicy) -> dict[str, object]:
    """OpenAPI: the bearer scheme and the permissions the route asks for."""
    return {"security": [{"Authority": list(policy.any_of)}]}


def build_trust_router(
    guard: Guard, log: SqlAuditLog, partners: Partners, policy: ReleasabilityPolicy
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["Trust: audit and partners"])

    def declare(method: str, path: str, route_policy: RoutePolicy) -> None:
        guard.policies.declare(method, PREFIX + path, route_policy)

    def audit_meta(partner: str) -> RecordMeta:
        return RecordMeta(kind=RecordKind.AUDIT_ENTRY, owner=PartnerID(partner))

    declare("GET", "/audit/entries", AUDIT_READ)

    @router.get(
        "/audit/entries",
        summary="Your partner's audit entries, as JSON Lines",
        openapi_extra=_documented(AUDIT_READ),
    )
    async def audit_entries(
        request: Request,
        after_seq: Annotated[int, Query(ge=0, description="Entries after this one.")] = 0,
    ) -> Response:
        principal = guard.admit(request, AUDIT_READ)
        await run_in_threadpool(log.seal)  # serve every change committed so far

        def lines() -> Iterator[bytes]:
            for entry in log.entries(partner=principal.partner, after_seq=after_seq):
                if policy.visible(PartnerID(principal.partner), audit_meta(entry.event.partner)):
                    yield entry_json(entry) + b"\n"

        return StreamingResponse(iterate_in_threadpool(lines()), media_type="application/x-ndjson")

    declare("GET", "/audit/entries/{seq}", AUDIT_READ)

    @router.get(
        "/audit/entries/{seq}",
        summary="One audit entry of your partner's",
        openapi_extra=_documented(AUDIT_READ),
    )
    async def audit_entry(request: Request, seq: str) -> Response:
        principal = guard.admit(request, AUDIT_READ)  # before looking at the path at all
        if not seq.isdigit():
            raise HTTPException(404, f"audit entry {seq!r} not found")
        await run_in_threadpool(log.seal)
        entry = await run_in_threadpool(log.entry, int(seq))
        viewer = PartnerID(principal.partner)
        if entry is None or not policy.visible(viewer, audit_meta(entry.event.partner)):
            raise HTTPException(404, f"audit entry {seq} not found")
        return Response(entry_json(entry), media_type="application/json")

    declare("GET", "/audit/head", AUDIT_READ)

    @router.get(
        "/audit/head",
        summary="The chain's head: an anchor to keep elsewhere",
        openapi_extra=_documented(AUDIT_READ),
    )
    async def audit_head(request: Request) -> Response:
        guard.admit(request, AUDIT_READ)
        await run_in_threadpool(log.seal)
        head = await run_in_threadpool(log.head)
        if head is None:
            raise HTTPException(500, "the audit chain's head is missing")
        return OrjsonResponse({"seq": head[0], "hash": head[1].hex()})

    declare("GET", "/partners", PARTNERS_READ)

    @router.get(
        "/partners", summary="The partners of this node", openapi_extra=_documented(PARTNERS_READ)
    )
    async def list_partners(request: Request) -> Response:
        guard.admit(request, PARTNERS_READ)
        return OrjsonResponse(
            {"partners": [{"id": p.id, "name": p.name, "depot": p.depot} for p in partners]}
        )

    declare("GET", "/partners/visibility", PARTNERS_READ)

    @router.get(
        "/partners/visibility",
        summary="Which partners may see a record, and what of it",
        openapi_extra=_documented(PARTNERS_READ),
    )
    async def visibility(
        request: Request,
        kind: str = "",
        owner: str = "",
        released_to: Annotated[list[str] | None, Query()] = None,
        assigned_to: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        guard.admit(request, PARTNERS_READ)  # before validating anything the caller sent
        if kind not in set(RecordKind):
            kinds = ", ".join(k.value for k in RecordKind)
            raise HTTPException(400, f"query parameter kind must be one of: {kinds}")
        if partners.get(owner) is None:
            raise HTTPException(400, f"query parameter owner must be a partner: {partners.ids()}")
        report = visibility_report(
            partners, policy, kind, owner, released_to or [], assigned_to or []
        )
        return OrjsonResponse(report)

    return router


def visibility_report(
    partners: Partners,
    policy: ReleasabilityPolicy,
    kind: str,
    owner: str,
    released_to: list[str],
    assigned_to: list[str],
) -> dict[str, object]:
    """For each partner: whether it sees a record so described, and which fields it misses."""
    meta = RecordMeta(
        kind=kind,
        owner=PartnerID(owner),
        released_to=frozenset(PartnerID(p) for p in released_to),
        assigned_to=frozenset(PartnerID(p) for p in assigned_to),
    )
    fields = dict.fromkeys(policy.field_rules.get(kind, {}), None)
    view: dict[str, object] = {}
    for partner in partners.ids():
        sees = policy.visible(partner, meta)
        hidden = sorted(set(fields) - set(policy.redact(partner, meta, fields))) if sees else []
        view[partner] = {"sees_record": sees, "hidden_fields": hidden}
    return {"kind": kind, "rule": policy.rule(kind).value, "owner": owner, "partners": view}
