"""HTTP adapter of the trust layer: the caller's audit entries and the partners' view.

``/api/v1/audit/...`` serves a partner its own entries (audit entries are owner-only):
another partner's entry answers 404, exactly like one that does not exist.
``/api/v1/partners/...`` lists the partners and shows who may see a record.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse

from dronecoop.auth.tokens import Principal
from dronecoop.store.audit_sql import SqlAuditLog
from dronecoop.store.partner_keys_sql import KeyConflict, SqlPartnerKeys, UnknownKey
from dronecoop.trust.audit import AuditEntry, entry_json
from dronecoop.trust.partners import PartnerID, Partners
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind, RecordMeta, ReleasabilityPolicy
from dronecoop.trust.roles import Permission
from dronecoop.web.guard import Guard, guarded_routes
from dronecoop.web.responses import OrjsonResponse
from dronecoop.web.threads import run_in_threadpool

PREFIX = "/api/v1"
FEED_POLL_S = 0.5  # how often a live feed looks for news
FEED_MAX_IDLE_S = 3600.0
_KID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
AUDIT_READ = RoutePolicy(any_of=(Permission.AUDIT_READ,), record_kind=RecordKind.AUDIT_ENTRY)
PARTNERS_READ = RoutePolicy(any_of=(Permission.PARTNERS_READ,))
KEYS_READ = RoutePolicy(any_of=(Permission.PARTNERS_READ,), record_kind=RecordKind.PARTNER_KEY)
KEYS_ADMIN = RoutePolicy(
    any_of=(Permission.PARTNERS_ADMIN,), record_kind=RecordKind.PARTNER_KEY, writes=True
)


def build_trust_router(
    guard: Guard,
    log: SqlAuditLog,
    partners: Partners,
    policy: ReleasabilityPolicy,
    keys: SqlPartnerKeys,
    owners: Mapping[str, Callable[[str], str | None]],
) -> APIRouter:
    """``owners``: for each record kind served here, the owning partner of a record id."""
    router = APIRouter(prefix=PREFIX, tags=["Trust: audit and partners"])

    route = guarded_routes(router, guard, PREFIX)

    def audit_meta(partner: str) -> RecordMeta:
        return RecordMeta(kind=RecordKind.AUDIT_ENTRY, owner=PartnerID(partner))

    @route("GET", "/audit/entries", AUDIT_READ, "Your partner's audit entries, as JSON Lines")
    async def audit_entries(
        request: Request,
        after_seq: Annotated[str, Query(description="Entries after this one.")] = "0",
    ) -> Response:
        principal = guard.admit(request, AUDIT_READ)  # before looking at the query at all
        after = _count(after_seq, "after_seq")
        await run_in_threadpool(log.seal)  # serve every change committed so far

        def lines() -> Iterator[bytes]:
            for entry in log.entries(partner=principal.partner, after_seq=after):
                if policy.visible(PartnerID(principal.partner), audit_meta(entry.event.partner)):
                    yield entry_json(entry) + b"\n"

        return StreamingResponse(iterate_in_threadpool(lines()), media_type="application/x-ndjson")

    @route(
        "GET",
        "/audit/feed",
        AUDIT_READ,
        "Your partner's audit entries as they happen (Server-Sent Events)",
    )
    async def audit_feed(
        request: Request,
        after_seq: Annotated[str, Query(description="Start after this entry.")] = "0",
        limit: Annotated[str | None, Query(description="End after this many.")] = None,
        idle_timeout_s: Annotated[
            str, Query(description="End after this long without news (s, at most 3600).")
        ] = "300",
    ) -> Response:
        principal = guard.admit(request, AUDIT_READ)  # before looking at the query at all
        viewer = PartnerID(principal.partner)
        start_after = _count(after_seq, "after_seq")
        most = None if limit is None else max(1, _count(limit, "limit"))
        try:
            idle_s = float(idle_timeout_s)
        except ValueError:
            idle_s = -1.0
        if not 0 < idle_s <= FEED_MAX_IDLE_S:
            raise HTTPException(400, f"idle_timeout_s must be in (0, {FEED_MAX_IDLE_S:.0f}]")

        def newer_than(seq: int) -> list[AuditEntry]:
            return list(log.entries(partner=viewer, after_seq=seq))

        async def events() -> AsyncIterator[bytes]:
            last, sent, quiet_since = start_after, 0, time.monotonic()
            while not await request.is_disconnected():
                await run_in_threadpool(log.seal)
                batch = await run_in_threadpool(newer_than, last)
                for entry in batch:
                    last = entry.seq
                    if not policy.visible(viewer, audit_meta(entry.event.partner)):
                        continue
                    yield b"id: %d\nevent: audit\ndata: %s\n\n" % (entry.seq, entry_json(entry))
                    sent += 1
                    if most is not None and sent >= most:
                        return
                now = time.monotonic()
                if batch:
                    quiet_since = now
                elif now - quiet_since > idle_s:
                    return
                await asyncio.sleep(FEED_POLL_S)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    @route("GET", "/audit/entries/{seq}", AUDIT_READ, "One audit entry of your partner's")
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

    @route("GET", "/audit/head", AUDIT_READ, "The chain's head: an anchor to keep elsewhere")
    async def audit_head(request: Request) -> Response:
        guard.admit(request, AUDIT_READ)
        await run_in_threadpool(log.seal)
        head = await run_in_threadpool(log.head)
        if head is None:
            raise HTTPException(500, "the audit chain's head is missing")
        return OrjsonResponse({"seq": head[0], "hash": head[1].hex()})

    @route("GET", "/partners", PARTNERS_READ, "The partners of this node")
    async def list_partners(request: Request) -> Response:
        guard.admit(request, PARTNERS_READ)
        return OrjsonResponse(
            {"partners": [{"id": p.id, "name": p.name, "depot": p.depot} for p in partners]}
        )

    @route(
        "GET",
        "/partners/visibility",
        PARTNERS_READ,
        "Which partners may see a record, and what of it",
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

    @route(
        "GET",
        "/partners/visibility/{kind}/{record_id}",
        PARTNERS_READ,
        "Which partners may see this record, and what of it",
    )
    async def record_visibility(request: Request, kind: str, record_id: str) -> Response:
        principal = guard.admit(request, PARTNERS_READ)
        if kind not in owners:
            raise HTTPException(400, f"record kinds served here: {', '.join(sorted(owners))}")
        owner = await run_in_threadpool(owners[kind], record_id)
        meta = RecordMeta(kind=kind, owner=PartnerID(owner or ""))
        if owner is None or not policy.visible(PartnerID(principal.partner), meta):
            raise HTTPException(404, f"{kind} {record_id} not found")
        report = visibility_report(partners, policy, kind, owner, [], [])
        return OrjsonResponse({**report, "record_id": record_id})

    def own_keys(request: Request, route_policy: RoutePolicy, partner: str) -> Principal:
        """The caller, if ``partner``'s keys are releasable to it; else 404 (as if absent)."""
        principal = guard.admit(request, route_policy)
        meta = RecordMeta(kind=RecordKind.PARTNER_KEY, owner=PartnerID(partner))
        # Keys vouch for a partner's tokens: only the partner itself reads or changes them,
        # whatever a policy might say about who may see them.
        if (
            partners.get(partner) is None
            or principal.partner != partner
            or not policy.visible(PartnerID(principal.partner), meta)
        ):
            raise HTTPException(404, f"partner {partner!r} not found")
        return principal

    @route(
        "GET", "/partners/{partner}/keys", KEYS_READ, "Keys your partner registered for its tokens"
    )
    async def list_keys(request: Request, partner: str) -> Response:
        own_keys(request, KEYS_READ, partner)
        registered = await run_in_threadpool(keys.list, partner)
        return OrjsonResponse(
            {
                "keys": [
                    {
                        "kid": k.kid,
                        "added_at": k.added_at.isoformat(),
                        "added_by": k.added_by,
                        "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                    }
                    for k in registered
                ]
            }
        )

    @route(
        "POST",
        "/partners/{partner}/keys",
        KEYS_ADMIN,
        "Register a new public key for your partner's tokens (rotation)",
    )
    async def add_key(request: Request, partner: str) -> Response:
        principal = own_keys(request, KEYS_ADMIN, partner)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, f"body is not JSON: {exc}") from exc
        kid, pem = (
            (body.get("kid"), body.get("public_key_pem"))
            if isinstance(body, dict)
            else (None, None)
        )
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise HTTPException(400, "kid must be 1-128 letters, digits, '.', '_' or '-'")
        if not isinstance(pem, str) or "BEGIN" not in pem:
            raise HTTPException(400, "public_key_pem must be a PEM public key or certificate")
        try:
            await run_in_threadpool(
                keys.add, partner, kid, pem, by=principal.sub, at=datetime.now(UTC)
            )
        except KeyConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(400, f"public_key_pem is not a usable RSA key: {exc}") from exc
        return OrjsonResponse({"partner": partner, "kid": kid}, status_code=201)

    @route(
        "DELETE",
        "/partners/{partner}/keys/{kid}",
        KEYS_ADMIN,
        "Retire one of your partner's registered keys",
    )
    async def retire_key(request: Request, partner: str, kid: str) -> Response:
        principal = own_keys(request, KEYS_ADMIN, partner)
        try:
            await run_in_threadpool(
                keys.retire, partner, kid, by=principal.sub, at=datetime.now(UTC)
            )
        except UnknownKey as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(status_code=204)

    return router


def _count(value: str, name: str) -> int:
    if not value.isdigit():
        raise HTTPException(400, f"{name} must be a whole number >= 0")
    return int(value)


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
