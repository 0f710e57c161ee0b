"""Talking to peer USSs on the F3548 wire: their flights' details, and notifications.

``PeerClient.operational_intent`` fetches ``GET {uss_base_url}/uss/v1/operational_intents/{id}``
(how a USS learns another's volumes, priority and current OVN); ``Notifier`` posts
``POST {uss_base_url}/uss/v1/operational_intents`` to every subscriber the DSS named after a
change, on worker threads so that a slow or dead peer never holds up a planner. Every call
has a timeout; a peer that cannot answer raises ``PeerUnavailable`` saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from dronecoop.airspace import wire
from dronecoop.airspace.dss import SubscriberNotice
from dronecoop.airspace.errors import BadRequest
from dronecoop.airspace.geo import Volume4D
from dronecoop.airspace.model import ConstraintRef, OperationalIntentRef, UssAvailability
from dronecoop.auth.client_tokens import TokenSource, TokenUnavailable, audience_of
from dronecoop.trust.roles import CONSTRAINT_PROCESSING, STRATEGIC_COORDINATION

logger = logging.getLogger(__name__)

PEER_TIMEOUT_S = 3.0
NOTIFY_ATTEMPTS = 2


class PeerUnavailable(Exception):
    """A peer USS could not give what was asked (down, slow, refused, or malformed)."""


@dataclass(frozen=True, slots=True)
class IntentDetails:
    """An operational intent as its managing USS describes it (``OperationalIntent``)."""

    reference: OperationalIntentRef
    volumes: tuple[Volume4D, ...]
    off_nominal_volumes: tuple[Volume4D, ...]
    priority: int


@dataclass(frozen=True, slots=True)
class ConstraintDetails:
    """A constraint as its managing USS describes it (``Constraint``)."""

    reference: ConstraintRef
    volumes: tuple[Volume4D, ...]
    type: str


def parse_constraint(body: Any, field: str = "constraint") -> ConstraintDetails:
    obj = wire.require_object(body, field)
    reference = wire.parse_constraint_reference(obj.get("reference"), f"{field}.reference")
    details = wire.require_object(obj.get("details"), f"{field}.details")
    volumes = details.get("volumes")
    if not isinstance(volumes, list):
        raise BadRequest(f"{field}.details.volumes must be a list")
    return ConstraintDetails(
        reference=reference,
        volumes=tuple(
            wire.parse_volume4d(v, f"{field}.details.volumes[{i}]") for i, v in enumerate(volumes)
        ),
        type=str(details.get("type") or ""),
    )


def constraint_body(
    reference: ConstraintRef, volumes: Sequence[Volume4D], kind: str
) -> dict[str, Any]:
    """The F3548 ``Constraint`` of one of our zones (real OVN: we manage it)."""
    return {
        "reference": wire.constraint_reference(
            reference, show_ovn=True, availability=UssAvailability.UNKNOWN
        ),
        "details": {"volumes": [wire.volume4d(v) for v in volumes], "type": kind},
    }


def parse_operational_intent(body: Any, field: str = "operational_intent") -> IntentDetails:
    """An F3548 ``OperationalIntent`` (reference + details); BadRequest names what is wrong."""
    obj = wire.require_object(body, field)
    reference = wire.parse_operational_intent_reference(obj.get("reference"), f"{field}.reference")
    details = wire.require_object(obj.get("details"), f"{field}.details")
    priority = details.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise BadRequest(f"{field}.details.priority must be an integer")
    volumes = details.get("volumes") or []
    off_nominal = details.get("off_nominal_volumes") or []
    if not isinstance(volumes, list) or not isinstance(off_nominal, list):
        raise BadRequest(f"{field}.details volumes must be lists")
    return IntentDetails(
        reference=reference,
        volumes=tuple(
            wire.parse_volume4d(v, f"{field}.details.volumes[{i}]") for i, v in enumerate(volumes)
        ),
        off_nominal_volumes=tuple(
            wire.parse_volume4d(v, f"{field}.details.off_nominal_volumes[{i}]")
            for i, v in enumerate(off_nominal)
        ),
        priority=priority,
    )


def operational_intent_body(
    reference: OperationalIntentRef, volumes: Sequence[Volume4D], priority: int
) -> dict[str, Any]:
    """The F3548 ``OperationalIntent`` of one of our flights (real OVN: we manage it)."""
    return {
        "reference": wire.operational_intent_reference(
            reference, show_ovn=True, availability=reference.uss_availability
        ),
        "details": {
            "volumes": [wire.volume4d(v) for v in volumes],
            "off_nominal_volumes": [],
            "priority": priority,
        },
    }


class PeerClient:
    def __init__(
        self,
        tokens: TokenSource,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = PEER_TIMEOUT_S,
    ) -> None:
        self._tokens = tokens
        self._http = http or httpx.Client(timeout=timeout_s)
        self.timeout_s = timeout_s

    def operational_intent(self, uss_base_url: str, entity_id: str) -> IntentDetails:
        url = f"{uss_base_url.rstrip('/')}/uss/v1/operational_intents/{entity_id}"
        response = self._request("GET", url)
        if response.status_code != 200:
            raise PeerUnavailable(
                f"{url} answered HTTP {response.status_code}: {_message(response)}"
            )
        try:
            body = response.json()
            return parse_operational_intent(
                body.get("operational_intent") if isinstance(body, dict) else None
            )
        except (ValueError, BadRequest) as exc:
            raise PeerUnavailable(f"{url} sent malformed details: {exc}") from exc

    def constraint(self, uss_base_url: str, entity_id: str) -> ConstraintDetails:
        url = f"{uss_base_url.rstrip('/')}/uss/v1/constraints/{entity_id}"
        response = self._request("GET", url, scope=CONSTRAINT_PROCESSING)
        if response.status_code != 200:
            raise PeerUnavailable(
                f"{url} answered HTTP {response.status_code}: {_message(response)}"
            )
        try:
            body = response.json()
            return parse_constraint(body.get("constraint") if isinstance(body, dict) else None)
        except (ValueError, BadRequest) as exc:
            raise PeerUnavailable(f"{url} sent malformed details: {exc}") from exc

    def notify(
        self, uss_base_url: str, payload: dict[str, Any], kind: str = "operational_intents"
    ) -> None:
        url = f"{uss_base_url.rstrip('/')}/uss/v1/{kind}"
        response = self._request("POST", url, payload)
        if response.status_code not in (200, 204):
            raise PeerUnavailable(
                f"{url} answered HTTP {response.status_code}: {_message(response)}"
            )

    def _request(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        scope: str = STRATEGIC_COORDINATION,
    ) -> httpx.Response:
        try:
            token = self._tokens.token(audience_of(url), [scope])
            return self._http.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TimeoutException as exc:
            raise PeerUnavailable(f"{url} did not answer within {self.timeout_s:g} s") from exc
        except (httpx.HTTPError, TokenUnavailable, ValueError) as exc:
            raise PeerUnavailable(f"{url} unreachable: {exc}") from exc


class Notifier:
    """Posts change notifications to subscribers in the background (best effort, logged)."""

    def __init__(self, peers: PeerClient, own_base_url: str, workers: int = 4) -> None:
        self._peers = peers
        self._own = own_base_url.rstrip("/")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify")

    def changed(
        self,
        entity_id: str,
        subscribers: Sequence[SubscriberNotice],
        intent: dict[str, Any] | None,
    ) -> None:
        """Tell each subscriber (but ourselves) that ``entity_id`` is now ``intent``
        (None: deleted)."""
        for url, subscriptions in self._grouped(subscribers).items():
            payload: dict[str, Any] = {
                "operational_intent_id": entity_id,
                "subscriptions": subscriptions,
            }
            if intent is not None:
                payload["operational_intent"] = intent
            self._pool.submit(self._send, url, payload)

    def constraint_changed(
        self,
        entity_id: str,
        subscribers: Sequence[SubscriberNotice],
        constraint: dict[str, Any] | None,
    ) -> None:
        """``POST /uss/v1/constraints`` to each subscriber (but ourselves)."""
        for url, subscriptions in self._grouped(subscribers).items():
            payload: dict[str, Any] = {"constraint_id": entity_id, "subscriptions": subscriptions}
            if constraint is not None:
                payload["constraint"] = constraint
            self._pool.submit(self._send, url, payload, "constraints")

    def _grouped(self, subscribers: Sequence[SubscriberNotice]) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for notice in subscribers:
            if notice.uss_base_url.rstrip("/") == self._own:
                continue
            grouped.setdefault(notice.uss_base_url, []).append(
                {
                    "subscription_id": notice.subscription_id,
                    "notification_index": notice.notification_index,
                }
            )
        return grouped

    def _send(self, url: str, payload: dict[str, Any], kind: str = "operational_intents") -> None:
        what = payload.get("operational_intent_id") or payload.get("constraint_id")
        for attempt in range(1, NOTIFY_ATTEMPTS + 1):
            try:
                self._peers.notify(url, payload, kind)
            except PeerUnavailable as exc:
                if attempt == NOTIFY_ATTEMPTS:
                    logger.warning("could not notify %s of %s: %s", url, what, exc)
            else:
                return

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:200]
    return str(body)[:200]
