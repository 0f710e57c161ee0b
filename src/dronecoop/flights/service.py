"""A partner's USS planning flights against a DSS (F3548 strategic coordination).

Planning a flight: mission -> trajectory -> volumes; ask the DSS (``DssClient``: this
node's own, or a remote one) which operational intents and constraints meet them; take
the details of each from this node's flights, from a current notification, or from its
managing USS (``GET /uss/v1/operational_intents/{id}``, fetched in parallel with a
timeout); find the conflicts and apply the priority rules; refuse with the reasons, or
create the operational intent with the full key, keep the flight, and notify every
subscriber the DSS names. An intent whose USS cannot be reached is taken as filling its
whole area (conservative), and the refusal says which USS did not answer. A USS
declared Down whose intent is only Accepted does not block (as the DSS's key check).

Creation is idempotent under retries: a client may name the flight's id; a create whose
answer was lost (timeout) and is retried finds the intent it made in the DSS and adopts
it rather than making a second one.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from uas_standards.astm.f3548.v21 import constants as f3548_constants

from dronecoop.airspace.dss import Caller
from dronecoop.airspace.errors import MissingKey, VersionMismatch
from dronecoop.airspace.geo import Volume4D
from dronecoop.airspace.model import (
    ConstraintRef,
    Footprint,
    ManagerID,
    OperationalIntentRef,
    OperationalIntentState,
    UssAvailability,
)
from dronecoop.airspace.wire import OVN_HIDDEN
from dronecoop.flights.dss_client import DssChange, DssClient, DssUnavailable, IntentWrite
from dronecoop.flights.model import DETAIL_FIELDS, Flight, FlightState
from dronecoop.flights.peers import (
    ConstraintDetails,
    IntentDetails,
    Notifier,
    PeerClient,
    PeerUnavailable,
    operational_intent_body,
)
from dronecoop.planning.deconfliction import (
    Conflict,
    Operation,
    PriorityRules,
    decide,
    find_conflicts,
)
from dronecoop.planning.errors import PlanningError
from dronecoop.planning.mission import Mission
from dronecoop.planning.priorities import PriorityPolicy
from dronecoop.planning.volumes import Margins, trajectory, volumes
from dronecoop.store.flights_sql import SqlFlightStore
from dronecoop.store.peer_intents_sql import PeerIntent, SqlPeerIntents
from dronecoop.store.zones_sql import SqlZoneStore
from dronecoop.trust.roles import (
    CONFORMANCE_MONITORING_SA,
    CONSTRAINT_MANAGEMENT,
    CONSTRAINT_PROCESSING,
    STRATEGIC_COORDINATION,
)

logger = logging.getLogger(__name__)

PLAN_ATTEMPTS = 3  # the airspace may change between the query and the create
NO_EQUAL_PRIORITY_CONFLICTS = PriorityRules()
DEFAULT_MARGINS = Margins()
DEFAULT_PRIORITIES = PriorityPolicy()
PEER_FETCH_WORKERS = 8
FETCHED_CACHE_SIZE = 10_000
V = TypeVar("V")


class _Lru(Generic[V]):
    """A small thread-safe LRU map (peers' details by intent id)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class FlightRefused(PlanningError):
    """The flight conflicts with operations the rules say it must not."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(
            f"flight refused: {len(conflicts)} conflict(s): "
            + "; ".join(c.describe() for c in conflicts)
        )


class FlightNotFound(PlanningError):
    pass


class NotYourFlight(PlanningError):
    pass


class FlightEnded(PlanningError):
    pass


class NotThisNodesPartner(PlanningError):
    """This node is another partner's USS (it plans on a remote DSS as that partner)."""


class FlightService:
    def __init__(
        self,
        dss_for: Callable[[str], DssClient],
        store: SqlFlightStore,
        uss_base_url: str,
        *,
        peers: PeerClient | None = None,
        peer_intents: SqlPeerIntents | None = None,
        notifier: Notifier | None = None,
        zones: SqlZoneStore | None = None,
        priorities: PriorityPolicy = DEFAULT_PRIORITIES,
        rules: PriorityRules = NO_EQUAL_PRIORITY_CONFLICTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._on_close = on_close
        self._dss_for = dss_for
        self._store = store
        self.uss_base_url = uss_base_url.rstrip("/")
        self._peers = peers
        self._peer_intents = peer_intents
        self._notifier = notifier
        self._zones = zones
        self._priorities = priorities
        self._rules = rules
        self._clock = clock
        self._fetch_pool = ThreadPoolExecutor(PEER_FETCH_WORKERS, thread_name_prefix="peer")
        self._references: dict[str, OperationalIntentRef] = {}
        self._fetched = _Lru[IntentDetails](FETCHED_CACHE_SIZE)
        self._fetched_constraints = _Lru[ConstraintDetails](FETCHED_CACHE_SIZE)

    def close(self) -> None:
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)
        if self._notifier is not None:
            self._notifier.close()
        if self._on_close is not None:
            self._on_close()

    def plan(
        self,
        partner: str,
        actor: str,
        mission: Mission,
        *,
        start: datetime,
        ground_speed_mps: float,
        priority: int | None = None,
        margins: Margins = DEFAULT_MARGINS,
        home_altitude_amsl_m: float | None = None,
        geoid_undulation_m: float = 0.0,
        released_to: frozenset[str] = frozenset(),
        details: dict[str, Any] | None = None,
        flight_id: str | None = None,
    ) -> Flight:
        """Plan a flight; with ``flight_id`` (a UUID the client chose) a retry of the same
        request returns the flight the first one made."""
        return self.plan_volumes(
            partner,
            actor,
            mission_volumes(
                mission,
                start=start,
                ground_speed_mps=ground_speed_mps,
                margins=margins,
                home_altitude_amsl_m=home_altitude_amsl_m,
                geoid_undulation_m=geoid_undulation_m,
            ),
            priority=priority,
            released_to=released_to,
            details=details,
            flight_id=flight_id,
        )

    def plan_volumes(
        self,
        partner: str,
        actor: str,
        ours: Sequence[Volume4D],
        *,
        priority: int | None = None,
        released_to: frozenset[str] = frozenset(),
        details: dict[str, Any] | None = None,
        flight_id: str | None = None,
    ) -> Flight:
        mission = (details or {}).get("mission")
        priority = self._priorities.priority_for(
            partner, mission if isinstance(mission, str) else None, priority
        )
        self._check_times(ours)
        if flight_id is not None:
            flight_id = _flight_id(flight_id)
            existing = self._store.get(flight_id)
            if existing is not None:
                if existing.partner != partner:
                    raise NotYourFlight(f"flight {flight_id} belongs to another partner")
                return existing  # a retry of a plan that succeeded
        flight_id = flight_id or str(uuid.uuid4())
        dss = self._dss_for(partner)
        ours = list(ours)
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            key = self._deconflict(dss, ours, priority)
            write = IntentWrite(tuple(ours), key, "Accepted", self.uss_base_url)
            try:
                change = self._create_or_adopt(dss, flight_id, write)
                break
            except MissingKey:
                if attempt == PLAN_ATTEMPTS:
                    raise
        flight = Flight(
            id=flight_id,
            partner=partner,
            manager=dss.manager,
            state=FlightState.ACCEPTED,
            priority=priority,
            volumes=tuple(ours),
            ovn=change.reference.ovn,
            created_at=self._clock(),
            released_to=released_to,
            details={k: v for k, v in (details or {}).items() if k in DETAIL_FIELDS},
        )
        try:
            self._store.save(flight, None, actor=actor, action="plan")
        except Exception:
            kept = self._store.get(flight_id)
            if kept is not None and kept.partner == partner:
                return kept  # a concurrent retry of the same plan saved it: that is the flight
            # Never leave an intent nobody can end: take it back out of the DSS.
            dss.delete_operational_intent(flight_id, change.reference.ovn)
            raise
        self._announce(flight, change)
        return flight

    def modify(
        self,
        partner: str,
        actor: str,
        flight_id: str,
        ours: Sequence[Volume4D],
        *,
        priority: int | None = None,
    ) -> Flight:
        """New volumes (and priority) for a live flight, deconflicted like a new plan; the
        flight keeps its id and state. A refusal leaves the flight as it was."""
        flight, dss, ref = self._current(partner, flight_id)
        priority = self._priorities.priority_for(
            partner, None, flight.priority if priority is None else priority
        )
        ours = list(ours)
        self._check_times(ours)
        # F3548 SCD0030: a flying (Activated) intent may keep the conflicts it already has.
        previous = flight.volumes if flight.state is FlightState.ACTIVATED else None
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            key = self._deconflict(dss, ours, priority, ignore=flight.id, previous=previous)
            try:
                change = dss.put_operational_intent(
                    flight.id,
                    ref.ovn,
                    IntentWrite(
                        tuple(ours),
                        key,
                        flight.state.value,
                        self.uss_base_url,
                        subscription_id=ref.subscription_id,
                    ),
                )
                break
            except MissingKey:
                if attempt == PLAN_ATTEMPTS:
                    raise
        modified = replace(flight, volumes=tuple(ours), priority=priority, ovn=change.reference.ovn)
        self._store.save(modified, flight, actor=actor, action="modify")
        self._announce(modified, change)
        return modified

    def check(
        self, partner: str, ours: Sequence[Volume4D], priority: int, ignore: str | None = None
    ) -> None:
        """Would these volumes be accepted now? Raises FlightRefused if not; changes nothing."""
        self._deconflict(self._dss_for(partner), list(ours), priority, ignore=ignore)

    def activate(self, partner: str, actor: str, flight_id: str) -> Flight:
        flight, dss, ref = self._current(partner, flight_id)
        key = self._deconflict(dss, list(flight.volumes), flight.priority, ignore=flight.id)
        change = dss.put_operational_intent(
            flight.id,
            ref.ovn,
            IntentWrite(
                flight.volumes,
                key,
                "Activated",
                self.uss_base_url,
                subscription_id=ref.subscription_id,
            ),
        )
        activated = replace(flight, state=FlightState.ACTIVATED, ovn=change.reference.ovn)
        self._store.save(activated, flight, actor=actor, action="activate")
        self._announce(activated, change)
        return activated

    def end(self, partner: str, actor: str, flight_id: str) -> Flight:
        flight = self._own(partner, flight_id)
        dss = self._dss_for(partner)
        ref = dss.get_operational_intent(flight.id)
        change = None
        if ref is not None:  # else already gone (purged, or an earlier end whose save failed)
            change = dss.delete_operational_intent(flight.id, ref.ovn)
        ended = replace(flight, state=FlightState.ENDED)
        self._store.save(ended, flight, actor=actor, action="end")
        self._references.pop(flight.id, None)
        if change is not None and self._notifier is not None:
            self._notifier.changed(flight.id, change.subscribers, None)
        return ended

    def get(self, flight_id: str) -> Flight | None:
        return self._store.get(flight_id)

    def reference(self, flight: Flight) -> OperationalIntentRef:
        """The flight's operational intent reference, as the DSS last gave it."""
        ref = self._references.get(flight.id)
        if ref is None or ref.ovn != flight.ovn:
            ref = self._dss_for(flight.partner).get_operational_intent(flight.id)
            if ref is None:
                raise FlightNotFound(f"flight {flight.id} is no longer in the DSS")
            self._remember(ref)
        return ref

    def _remember(self, ref: OperationalIntentRef) -> None:
        if len(self._references) > 10_000:
            self._references.clear()
        self._references[ref.id] = ref

    def all_flights(self) -> list[Flight]:
        return self._store.list()

    def record_notification(
        self, partner: str, actor: str, entity_id: str, intent: IntentDetails | None
    ) -> None:
        """A peer USS told us its intent changed (``intent``) or ended (None)."""
        if self._peer_intents is not None:
            self._peer_intents.record(partner, actor, entity_id, intent)

    def peer_intents(self) -> list[PeerIntent]:
        return [] if self._peer_intents is None else self._peer_intents.list()

    def _announce(self, flight: Flight, change: DssChange) -> None:
        self._remember(change.reference)
        if self._notifier is not None:
            body = operational_intent_body(change.reference, flight.volumes, flight.priority)
            self._notifier.changed(flight.id, change.subscribers, body)

    def _create_or_adopt(self, dss: DssClient, flight_id: str, write: IntentWrite) -> DssChange:
        """Create the intent; if an earlier try already did (its answer lost), update that
        one instead of failing or making another."""
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            try:
                return dss.put_operational_intent(flight_id, None, write)
            except (VersionMismatch, DssUnavailable) as exc:
                if isinstance(exc, DssUnavailable) and attempt == PLAN_ATTEMPTS:
                    raise
                existing = dss.get_operational_intent(flight_id)
                if existing is None:
                    if isinstance(exc, VersionMismatch):
                        raise
                    continue  # the create never landed: try it again
                if existing.manager != dss.manager:
                    raise PlanningError(
                        f"operational intent {flight_id} exists and belongs to {existing.manager}"
                    ) from exc
                return dss.put_operational_intent(
                    flight_id,
                    existing.ovn,
                    replace(write, subscription_id=existing.subscription_id),
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _current(
        self, partner: str, flight_id: str
    ) -> tuple[Flight, DssClient, OperationalIntentRef]:
        """The partner's live flight, its DSS client, and its reference in the DSS."""
        flight = self._own(partner, flight_id)
        dss = self._dss_for(partner)
        ref = dss.get_operational_intent(flight.id)
        if ref is None:
            raise FlightNotFound(f"flight {flight_id} is no longer in the DSS (expired?)")
        return flight, dss, ref

    def _own(self, partner: str, flight_id: str) -> Flight:
        flight = self._store.get(flight_id)
        if flight is None:
            raise FlightNotFound(f"flight {flight_id} not found")
        if flight.partner != partner:
            raise NotYourFlight(f"flight {flight_id} belongs to {flight.partner}")
        if flight.state is FlightState.ENDED:
            raise FlightEnded(f"flight {flight_id} has ended")
        return flight

    def _check_times(self, ours: Sequence[Volume4D]) -> None:
        """F3548 limits on when an operational intent may be: not over, not too far ahead."""
        now = self._clock()
        ends = [v.time_end for v in ours if v.time_end is not None]
        if ends and max(ends) <= now:
            raise PlanningError("the flight ends in the past")
        horizon = now + timedelta(days=f3548_constants.OiMaxPlanHorizonDays)
        starts = [v.time_start for v in ours if v.time_start is not None]
        if starts and min(starts) > horizon:
            raise PlanningError(
                f"the flight starts more than {f3548_constants.OiMaxPlanHorizonDays} days "
                "ahead (the F3548 planning horizon): plan it later"
            )

    def _deconflict(
        self,
        dss: DssClient,
        ours: list[Volume4D],
        priority: int,
        ignore: str | None = None,
        previous: Sequence[Volume4D] | None = None,
    ) -> frozenset[str]:
        """The key for ``ours``; raises FlightRefused when a conflict must block it
        (conflicts ``previous`` volumes already had are tolerated)."""
        refs = [r for r in dss.query_operational_intents(ours) if r.id != ignore]
        constraints = dss.query_constraints(ours)
        held = self._store.get_many([r.id for r in refs])
        cached = self._peer_intents.get_many([r.id for r in refs]) if self._peer_intents else {}
        others: list[Operation] = []
        key = {c.ovn for c in constraints if c.ovn != OVN_HIDDEN}
        to_fetch: list[OperationalIntentRef] = []
        for ref in refs:
            flight = held.get(ref.id)
            if flight is not None:  # one of this node's flights
                if flight.state is not FlightState.ENDED:
                    others.append(
                        Operation(flight.id, flight.partner, flight.priority, flight.volumes)
                    )
                key.add(ref.ovn if ref.ovn != OVN_HIDDEN else flight.ovn)
            elif (
                ref.uss_availability is UssAvailability.DOWN
                and ref.state is OperationalIntentState.ACCEPTED
            ):
                continue  # the DSS does not ask for its OVN either
            elif (peer := cached.get(ref.id)) is not None and peer.version == ref.version:
                others.append(Operation(ref.id, _whose(ref), peer.priority, peer.volumes))
                key.add(peer.ovn)
            elif (known := self._fetched.get(ref.id)) is not None and (
                known.reference.version == ref.version
            ):
                # Fetched before and unchanged since: the DSS bumps the version (and the
                # OVN) on every change of the intent, so these are its current details.
                others.append(_peer_operation(ref, known))
                key.add(known.reference.ovn)
            else:
                to_fetch.append(ref)
        for ref, outcome in zip(to_fetch, self._fetch_all(to_fetch), strict=True):
            if isinstance(outcome, IntentDetails):
                others.append(_peer_operation(ref, outcome))
                key.add(outcome.reference.ovn)
                self._fetched.put(ref.id, outcome)
            else:
                others.append(
                    Operation(
                        ref.id, _whose(ref), 0, (_envelope(ref.footprint),), "unknown", outcome
                    )
                )
                if ref.ovn != OVN_HIDDEN:
                    key.add(ref.ovn)
        others += self._constraint_operations(constraints)
        decision = decide(priority, find_conflicts(ours, others), self._rules)
        blocking = list(decision.blocking)
        if previous is not None and blocking:
            already = {c.other.id for c in find_conflicts(list(previous), others)}
            blocking = [c for c in blocking if c.other.id not in already]
        if blocking:
            raise FlightRefused(blocking)
        return frozenset(key)

    def _constraint_operations(self, constraints: list[ConstraintRef]) -> list[Operation]:
        """Each constraint where it really is: this node's zones from its store, others'
        from their USS (or, failing that, anywhere in their time window)."""
        held = self._zones.get_many([c.id for c in constraints]) if self._zones else {}
        operations, to_fetch = [], []
        for ref in constraints:
            zone = held.get(ref.id)
            known = self._fetched_constraints.get(ref.id)
            if zone is not None and not zone.withdrawn:
                operations.append(
                    Operation(ref.id, zone.partner, 0, zone.volumes, "constraint", zone.name)
                )
            elif known is not None and known.reference.version == ref.version:
                operations.append(_constraint_operation(ref, known))
            elif zone is None:
                to_fetch.append(ref)
        peers = self._peers

        def fetch(ref: ConstraintRef) -> ConstraintDetails | str:
            if peers is None:
                return "this node has no credentials to ask other USSs"
            try:
                return peers.constraint(ref.uss_base_url, ref.id)
            except PeerUnavailable as exc:
                return str(exc)

        for ref, outcome in zip(to_fetch, self._fetch_pool.map(fetch, to_fetch), strict=True):
            if isinstance(outcome, ConstraintDetails):
                self._fetched_constraints.put(ref.id, outcome)
                operations.append(_constraint_operation(ref, outcome))
            else:
                operations.append(
                    Operation(
                        ref.id,
                        _whose(ref),
                        0,
                        (_envelope(ref.footprint),),
                        "constraint",
                        f"no details: {outcome}; assumed to fill its whole area",
                    )
                )
        return operations

    def _fetch_all(self, refs: list[OperationalIntentRef]) -> list[IntentDetails | str]:
        """Each intent's details from its USS, or why they could not be had."""
        if not refs:
            return []
        peers = self._peers
        if peers is None:
            return ["this node has no credentials to ask other USSs"] * len(refs)

        def fetch(ref: OperationalIntentRef) -> IntentDetails | str:
            try:
                details = peers.operational_intent(ref.uss_base_url, ref.id)
            except PeerUnavailable as exc:
                logger.warning("no details for %s: %s", ref.id, exc)
                return str(exc)
            if details.reference.id != ref.id:
                return f"{ref.uss_base_url} answered for another intent"
            return details

        return list(self._fetch_pool.map(fetch, refs))


def mission_volumes(
    mission: Mission,
    *,
    start: datetime,
    ground_speed_mps: float,
    margins: Margins = DEFAULT_MARGINS,
    home_altitude_amsl_m: float | None = None,
    geoid_undulation_m: float = 0.0,
) -> list[Volume4D]:
    """The 4D volumes a mission flown from ``start`` occupies."""
    points = trajectory(
        mission,
        start=start,
        ground_speed_mps=ground_speed_mps,
        home_altitude_amsl_m=home_altitude_amsl_m,
        geoid_undulation_m=geoid_undulation_m,
    )
    return volumes(points, margins, mission.surveys)


def _peer_operation(ref: OperationalIntentRef, details: IntentDetails) -> Operation:
    return Operation(
        ref.id, _whose(ref), details.priority, details.volumes + details.off_nominal_volumes
    )


def _constraint_operation(ref: ConstraintRef, details: ConstraintDetails) -> Operation:
    name = details.type or "restricted area"
    return Operation(ref.id, _whose(ref), 0, details.volumes, "constraint", name)


def _whose(ref: OperationalIntentRef | ConstraintRef) -> str:
    return ref.partner or str(ref.manager)


def _flight_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise PlanningError(f'"id" must be a UUID, got {raw!r}') from exc


def local_uss(partner: str) -> Caller:
    """The partner's USS identity in this node's DSS, with the scopes a USS holds."""
    return Caller(
        manager=ManagerID(f"{partner}-uss"),
        scopes=frozenset(
            {
                STRATEGIC_COORDINATION,
                CONFORMANCE_MONITORING_SA,
                CONSTRAINT_PROCESSING,
                CONSTRAINT_MANAGEMENT,
            }
        ),
        partner=partner,
    )


def _envelope(footprint: Footprint) -> Volume4D:
    """Where the DSS says an entity is, without its outline: anywhere in its cells."""
    return Volume4D(
        outline=None,
        altitude_lower_w84_m=footprint.altitude_lower_w84_m,
        altitude_upper_w84_m=footprint.altitude_upper_w84_m,
        time_start=footprint.time_start,
        time_end=footprint.time_end,
    )
