"""The DSS as a partner's USS sees it: in this process, or a remote one over HTTP.

``FlightService`` plans against a ``DssClient`` bound to one USS identity. ``LocalDss`` calls
the in-process ``DssService`` (a node that is both the DSS and the partners' USS);
``RemoteDss`` speaks F3548 ``/dss/v1`` to a DSS by URL with the tokens of a
``TokenSource``. Both raise the core's errors (``MissingKey``, ``NotFound``,
``VersionMismatch``, ``PermissionDenied``), so the planning logic is the same; a remote DSS
that cannot be reached or answers nonsense raises ``DssUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from dronecoop.airspace import wire
from dronecoop.airspace.dss import (
    Caller,
    ConstraintRequest,
    DssService,
    ImplicitSubscriptionRequest,
    OperationalIntentRequest,
    SubscriberNotice,
    area_of,
)
from dronecoop.airspace.errors import (
    AirspaceError,
    BadRequest,
    MissingKey,
    NotFound,
    PermissionDenied,
    VersionMismatch,
)
from dronecoop.airspace.geo import Volume4D
from dronecoop.airspace.model import ConstraintRef, OperationalIntentRef, SubscriptionID
from dronecoop.auth.client_tokens import TokenSource, TokenUnavailable, audience_of
from dronecoop.planning.area import area_of_interest
from dronecoop.trust.roles import (
    CONSTRAINT_MANAGEMENT,
    CONSTRAINT_PROCESSING,
    STRATEGIC_COORDINATION,
)

DSS_TIMEOUT_S = 5.0
T = TypeVar("T")


class DssUnavailable(AirspaceError):
    """The DSS could not be reached, timed out, or answered outside the standard."""


@dataclass(frozen=True, slots=True)
class DssChange:
    reference: OperationalIntentRef
    subscribers: list[SubscriberNotice]


@dataclass(frozen=True, slots=True)
class ConstraintChange:
    reference: ConstraintRef
    subscribers: list[SubscriberNotice]


@dataclass(frozen=True, slots=True)
class IntentWrite:
    """What a USS writes for one of its operational intents."""

    volumes: tuple[Volume4D, ...]
    key: frozenset[str]
    state: str
    uss_base_url: str
    subscription_id: str | None = None  # None: create an implicit subscription


class DssClient(Protocol):
    manager: str

    def query_operational_intents(
        self, volumes: Sequence[Volume4D]
    ) -> list[OperationalIntentRef]: ...

    def query_constraints(self, volumes: Sequence[Volume4D]) -> list[ConstraintRef]: ...

    def get_operational_intent(self, entity_id: str) -> OperationalIntentRef | None: ...

    def put_operational_intent(
        self, entity_id: str, ovn: str | None, write: IntentWrite
    ) -> DssChange: ...

    def delete_operational_intent(self, entity_id: str, ovn: str) -> DssChange: ...

    def get_constraint(self, entity_id: str) -> ConstraintRef | None: ...

    def put_constraint(
        self, entity_id: str, ovn: str | None, volumes: Sequence[Volume4D], uss_base_url: str
    ) -> ConstraintChange: ...

    def delete_constraint(self, entity_id: str, ovn: str) -> ConstraintChange: ...


class LocalDss:
    """The DSS of this very node, called directly as ``caller``."""

    def __init__(self, dss: DssService, caller: Caller) -> None:
        self._dss = dss
        self._caller = caller
        self.manager = str(caller.manager)

    def query_operational_intents(self, volumes: Sequence[Volume4D]) -> list[OperationalIntentRef]:
        refs, _ = self._dss.query_operational_intents(self._caller, area_of(volumes))
        return refs

    def query_constraints(self, volumes: Sequence[Volume4D]) -> list[ConstraintRef]:
        return self._dss.query_constraints(self._caller, area_of(volumes))

    def get_operational_intent(self, entity_id: str) -> OperationalIntentRef | None:
        try:
            ref, _ = self._dss.get_operational_intent(self._caller, entity_id)
        except NotFound:
            return None
        return ref

    def put_operational_intent(
        self, entity_id: str, ovn: str | None, write: IntentWrite
    ) -> DssChange:
        change = self._dss.put_operational_intent(
            self._caller,
            entity_id,
            ovn,
            OperationalIntentRequest(
                extents=area_of(write.volumes),
                key=write.key,
                state=write.state,
                uss_base_url=write.uss_base_url,
                subscription_id=write.subscription_id,
                new_subscription=None
                if write.subscription_id
                else ImplicitSubscriptionRequest(write.uss_base_url),
            ),
        )
        return DssChange(change.reference, change.subscribers)

    def delete_operational_intent(self, entity_id: str, ovn: str) -> DssChange:
        change = self._dss.delete_operational_intent(self._caller, entity_id, ovn)
        return DssChange(change.reference, change.subscribers)

    def get_constraint(self, entity_id: str) -> ConstraintRef | None:
        try:
            return self._dss.get_constraint(self._caller, entity_id)
        except NotFound:
            return None

    def put_constraint(
        self, entity_id: str, ovn: str | None, volumes: Sequence[Volume4D], uss_base_url: str
    ) -> ConstraintChange:
        change = self._dss.put_constraint(
            self._caller, entity_id, ovn, ConstraintRequest(area_of(volumes), uss_base_url)
        )
        return ConstraintChange(change.reference, change.subscribers)

    def delete_constraint(self, entity_id: str, ovn: str) -> ConstraintChange:
        change = self._dss.delete_constraint(self._caller, entity_id, ovn)
        return ConstraintChange(change.reference, change.subscribers)


class RemoteDss:
    """A DSS by URL (``.../dss/v1`` is appended), as the USS identity ``manager``."""

    def __init__(
        self,
        base_url: str,
        manager: str,
        tokens: TokenSource,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = DSS_TIMEOUT_S,
    ) -> None:
        self._base = base_url.rstrip("/") + "/dss/v1"
        self.manager = manager
        self._tokens = tokens
        self._audience = audience_of(base_url)
        self._http = http or httpx.Client(timeout=timeout_s)

    def query_operational_intents(self, volumes: Sequence[Volume4D]) -> list[OperationalIntentRef]:
        body = self._call(
            "POST",
            "/operational_intent_references/query",
            {"area_of_interest": wire.volume4d(area_of_interest(volumes))},
        )
        return _parsed(
            lambda: [
                wire.parse_operational_intent_reference(r, f"operational_intent_references[{i}]")
                for i, r in enumerate(_list(body, "operational_intent_references"))
            ]
        )

    def query_constraints(self, volumes: Sequence[Volume4D]) -> list[ConstraintRef]:
        body = self._call(
            "POST",
            "/constraint_references/query",
            {"area_of_interest": wire.volume4d(area_of_interest(volumes))},
            scope=CONSTRAINT_PROCESSING,
        )
        return _parsed(
            lambda: [
                wire.parse_constraint_reference(r, f"constraint_references[{i}]")
                for i, r in enumerate(_list(body, "constraint_references"))
            ]
        )

    def get_operational_intent(self, entity_id: str) -> OperationalIntentRef | None:
        try:
            body = self._call("GET", f"/operational_intent_references/{entity_id}")
        except NotFound:
            return None
        return _parsed(
            lambda: wire.parse_operational_intent_reference(
                body.get("operational_intent_reference"), "operational_intent_reference"
            )
        )

    def put_operational_intent(
        self, entity_id: str, ovn: str | None, write: IntentWrite
    ) -> DssChange:
        request: dict[str, Any] = {
            "extents": [wire.volume4d(v) for v in write.volumes],
            "key": sorted(write.key),
            "state": write.state,
            "uss_base_url": write.uss_base_url,
        }
        if write.subscription_id:
            request["subscription_id"] = write.subscription_id
        else:
            request["new_subscription"] = {
                "uss_base_url": write.uss_base_url,
                "notify_for_constraints": False,
            }
        path = f"/operational_intent_references/{entity_id}" + (f"/{ovn}" if ovn else "")
        return self._change(self._call("PUT", path, request))

    def delete_operational_intent(self, entity_id: str, ovn: str) -> DssChange:
        return self._change(
            self._call("DELETE", f"/operational_intent_references/{entity_id}/{ovn}")
        )

    def get_constraint(self, entity_id: str) -> ConstraintRef | None:
        try:
            body = self._call(
                "GET", f"/constraint_references/{entity_id}", scope=CONSTRAINT_PROCESSING
            )
        except NotFound:
            return None
        return _parsed(
            lambda: wire.parse_constraint_reference(
                body.get("constraint_reference"), "constraint_reference"
            )
        )

    def put_constraint(
        self, entity_id: str, ovn: str | None, volumes: Sequence[Volume4D], uss_base_url: str
    ) -> ConstraintChange:
        path = f"/constraint_references/{entity_id}" + (f"/{ovn}" if ovn else "")
        body = self._call(
            "PUT",
            path,
            {"extents": [wire.volume4d(v) for v in volumes], "uss_base_url": uss_base_url},
            scope=CONSTRAINT_MANAGEMENT,
        )
        return self._constraint_change(body)

    def delete_constraint(self, entity_id: str, ovn: str) -> ConstraintChange:
        body = self._call(
            "DELETE", f"/constraint_references/{entity_id}/{ovn}", scope=CONSTRAINT_MANAGEMENT
        )
        return self._constraint_change(body)

    def _constraint_change(self, body: dict[str, Any]) -> ConstraintChange:
        reference = _parsed(
            lambda: wire.parse_constraint_reference(
                body.get("constraint_reference"), "constraint_reference"
            )
        )
        return ConstraintChange(reference, self._notices(body))

    def _change(self, body: dict[str, Any]) -> DssChange:
        reference = _parsed(
            lambda: wire.parse_operational_intent_reference(
                body.get("operational_intent_reference"), "operational_intent_reference"
            )
        )
        return DssChange(reference, self._notices(body))

    def _notices(self, body: dict[str, Any]) -> list[SubscriberNotice]:
        return [
            SubscriberNotice(
                SubscriptionID(str(sub.get("subscription_id"))),
                str(group.get("uss_base_url")),
                int(sub.get("notification_index", 0)),
            )
            for group in _list(body, "subscribers")
            if isinstance(group, dict)
            for sub in group.get("subscriptions", [])
            if isinstance(sub, dict)
        ]

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        scope: str = STRATEGIC_COORDINATION,
    ) -> dict[str, Any]:
        url = self._base + path
        try:
            token = self._tokens.token(self._audience, [scope])
            response = self._http.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except (httpx.HTTPError, TokenUnavailable) as exc:
            raise DssUnavailable(f"DSS at {self._base} unreachable: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if response.is_success:
            return payload
        message = str(payload.get("message") or payload.get("detail") or response.text[:300])
        status = response.status_code
        if status == 404:
            raise NotFound(message)
        if status == 403:
            raise PermissionDenied(message)
        if status == 409 and (
            "missing_operational_intents" in payload or "missing_constraints" in payload
        ):
            raise MissingKey(
                message,
                [
                    wire.parse_operational_intent_reference(r, "missing_operational_intents")
                    for r in payload.get("missing_operational_intents") or []
                ],
                [
                    wire.parse_constraint_reference(r, "missing_constraints")
                    for r in payload.get("missing_constraints") or []
                ],
            )
        if status == 409:
            raise VersionMismatch(message)
        if status == 400:
            raise BadRequest(f"the DSS refused the request: {message}")
        raise DssUnavailable(f"DSS answered {method} {path} with HTTP {status}: {message}")


def _parsed(parse: Callable[[], T]) -> T:
    """A response the standard does not allow is the DSS's fault, not the caller's."""
    try:
        return parse()
    except BadRequest as exc:
        raise DssUnavailable(f"the DSS sent a malformed response: {exc}") from exc


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise DssUnavailable(f"DSS response field {name} is not a list")
    return value
