"""A partner's USS planning flights against a DSS in this process (strategic coordination).

Planning a flight: mission → trajectory → volumes; ask the DSS which operational intents
and constraints meet them; fetch the details of those this node holds (every partner's
flights on a shared node); find the conflicts and apply the priority rules; refuse with
the reasons, or create the operational intent with the full key and keep the flight.
Intents this node holds no details for (another USS's, not reachable here yet) are taken
as conflicting wherever the DSS says they are (conservative). Each partner's flights
belong to its USS identity in the DSS (``<partner>-uss``), so any of its operators can fly
them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from dronecoop.airspace.dss import (
    Caller,
    DssService,
    ImplicitSubscriptionRequest,
    OperationalIntentRequest,
    area_of,
)
from dronecoop.airspace.errors import MissingKey, NotFound
from dronecoop.airspace.geo import Volume4D
from dronecoop.airspace.model import Footprint, ManagerID, OperationalIntentRef
from dronecoop.flights.model import DETAIL_FIELDS, Flight, FlightState
from dronecoop.planning.deconfliction import (
    Conflict,
    Operation,
    PriorityRules,
    decide,
    find_conflicts,
)
from dronecoop.planning.errors import PlanningError
from dronecoop.planning.mission import Mission
from dronecoop.planning.volumes import Margins, trajectory, volumes
from dronecoop.store.flights_sql import SqlFlightStore
from dronecoop.trust.roles import (
    CONFORMANCE_MONITORING_SA,
    CONSTRAINT_PROCESSING,
    STRATEGIC_COORDINATION,
)

PRIORITY_MIN, PRIORITY_MAX = 0, 100  # the F3548 priority levels this node accepts
PLAN_ATTEMPTS = 3  # the airspace may change between the query and the create
NO_EQUAL_PRIORITY_CONFLICTS = PriorityRules()
DEFAULT_MARGINS = Margins()


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


class FlightService:
    def __init__(
        self,
        dss: DssService,
        store: SqlFlightStore,
        uss_base_url: str,
        rules: PriorityRules = NO_EQUAL_PRIORITY_CONFLICTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._dss = dss
        self._store = store
        self._uss_base_url = uss_base_url
        self._rules = rules
        self._clock = clock

    def plan(
        self,
        partner: str,
        actor: str,
        mission: Mission,
        *,
        start: datetime,
        ground_speed_mps: float,
        priority: int = 0,
        margins: Margins = DEFAULT_MARGINS,
        home_altitude_amsl_m: float | None = None,
        geoid_undulation_m: float = 0.0,
        released_to: frozenset[str] = frozenset(),
        details: dict[str, Any] | None = None,
    ) -> Flight:
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise PlanningError(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
        points = trajectory(
            mission,
            start=start,
            ground_speed_mps=ground_speed_mps,
            home_altitude_amsl_m=home_altitude_amsl_m,
            geoid_undulation_m=geoid_undulation_m,
        )
        ours = volumes(points, margins)
        uss = _uss(partner)
        flight_id = str(uuid.uuid4())
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            key = self._deconflict(uss, ours, priority)
            try:
                change = self._dss.put_operational_intent(
                    uss,
                    flight_id,
                    None,
                    OperationalIntentRequest(
                        extents=area_of(ours),
                        key=key,
                        state="Accepted",
                        uss_base_url=self._uss_base_url,
                        new_subscription=ImplicitSubscriptionRequest(self._uss_base_url),
                    ),
                )
                break
            except MissingKey:
                if attempt == PLAN_ATTEMPTS:
                    raise
        flight = Flight(
            id=flight_id,
            partner=partner,
            manager=uss.manager,
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
            # Never leave an intent nobody can end: take it back out of the DSS.
            self._dss.delete_operational_intent(uss, flight_id, change.reference.ovn)
            raise
        return flight

    def activate(self, partner: str, actor: str, flight_id: str) -> Flight:
        flight, uss, ref = self._current(partner, flight_id)
        key = self._deconflict(uss, list(flight.volumes), flight.priority, ignore=flight.id)
        change = self._dss.put_operational_intent(
            uss,
            flight.id,
            ref.ovn,
            OperationalIntentRequest(
                extents=area_of(flight.volumes),
                key=key,
                state="Activated",
                uss_base_url=self._uss_base_url,
                subscription_id=ref.subscription_id,
            ),
        )
        activated = replace(flight, state=FlightState.ACTIVATED, ovn=change.reference.ovn)
        self._store.save(activated, flight, actor=actor, action="activate")
        return activated

    def end(self, partner: str, actor: str, flight_id: str) -> Flight:
        flight = self._own(partner, flight_id)
        uss = _uss(partner)
        try:
            ref, _ = self._dss.get_operational_intent(uss, flight.id)
            self._dss.delete_operational_intent(uss, flight.id, ref.ovn)
        except NotFound:
            pass  # already gone from the DSS (purged, or an earlier end whose save failed)
        ended = replace(flight, state=FlightState.ENDED)
        self._store.save(ended, flight, actor=actor, action="end")
        return ended

    def get(self, flight_id: str) -> Flight | None:
        return self._store.get(flight_id)

    def all_flights(self) -> list[Flight]:
        return self._store.list()

    def _current(self, partner: str, flight_id: str) -> tuple[Flight, Caller, OperationalIntentRef]:
        """The partner's live flight, its USS identity, and its reference in the DSS."""
        flight = self._own(partner, flight_id)
        uss = _uss(partner)
        ref, _ = self._dss.get_operational_intent(uss, flight.id)
        return flight, uss, ref

    def _own(self, partner: str, flight_id: str) -> Flight:
        flight = self._store.get(flight_id)
        if flight is None:
            raise FlightNotFound(f"flight {flight_id} not found")
        if flight.partner != partner:
            raise NotYourFlight(f"flight {flight_id} belongs to {flight.partner}")
        if flight.state is FlightState.ENDED:
            raise FlightEnded(f"flight {flight_id} has ended")
        return flight

    def _deconflict(
        self, uss: Caller, ours: list[Volume4D], priority: int, ignore: str | None = None
    ) -> frozenset[str]:
        """The key for ``ours``; raises FlightRefused when a conflict must block it."""
        area = area_of(ours)
        refs, _ = self._dss.query_operational_intents(uss, area)
        refs = [r for r in refs if r.id != ignore]
        constraints = self._dss.query_constraints(uss, area)
        held = self._store.get_many([r.id for r in refs])
        others = [
            Operation(f.id, f.partner, f.priority, f.volumes)
            for f in held.values()
            if f.state is not FlightState.ENDED
        ]
        others += [
            Operation(r.id, f"the USS at {r.uss_base_url}", 0, (_envelope(r.footprint),), "unknown")
            for r in refs
            if r.id not in held
        ]
        others += [
            Operation(c.id, c.manager, 0, (_envelope(c.footprint),), kind="constraint")
            for c in constraints
        ]
        decision = decide(priority, find_conflicts(ours, others), self._rules)
        if not decision.accepted:
            raise FlightRefused(list(decision.blocking))
        return frozenset(r.ovn for r in refs) | frozenset(c.ovn for c in constraints)


def _uss(partner: str) -> Caller:
    """The partner's USS identity in the DSS, with the scopes a USS holds."""
    return Caller(
        manager=ManagerID(f"{partner}-uss"),
        scopes=frozenset(
            {STRATEGIC_COORDINATION, CONFORMANCE_MONITORING_SA, CONSTRAINT_PROCESSING}
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
