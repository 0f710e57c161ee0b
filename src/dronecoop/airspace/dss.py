"""The F3548-21 DSS: operational intent and constraint references, subscriptions, USS
availability — the rules of strategic coordination, independent of HTTP and of the database.

Semantics follow the InterUSS ``dss`` reference implementation (pkg/scd), so that any
InterUSS-compatible USS can use a dronecoop DSS unchanged. Each public method runs in one
store transaction; all checks that need no database happen before it starts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from dronecoop.airspace import geo, s2cells
from dronecoop.airspace.errors import (
    BadRequest,
    DependencyConflict,
    MissingKey,
    NotFound,
    PermissionDenied,
    VersionMismatch,
)
from dronecoop.airspace.model import (
    ConstraintRef,
    EntityID,
    Footprint,
    ManagerID,
    OperationalIntentRef,
    OperationalIntentState,
    Subscription,
    SubscriptionID,
    UssAvailability,
    UssAvailabilityStatus,
)
from dronecoop.airspace.store import AirspaceStore, AirspaceTx
from dronecoop.trust.audit import AuditEvent, digest_of

SCOPE_STRATEGIC_COORDINATION = "utm.strategic_coordination"
SCOPE_CONSTRAINT_MANAGEMENT = "utm.constraint_management"
SCOPE_CONSTRAINT_PROCESSING = "utm.constraint_processing"
SCOPE_CONFORMANCE_MONITORING_SA = "utm.conformance_monitoring_sa"
SCOPE_AVAILABILITY_ARBITRATION = "utm.availability_arbitration"

MAX_CLOCK_SKEW = timedelta(minutes=5)  # InterUSS maxClockSkew: requested OVN suffix, sub start
MAX_SUBSCRIPTION_DURATION = timedelta(hours=24)  # F3548-21 DSSMaxSubscriptionDurationHours
DEPENDENT_START_TOLERANCE = timedelta(minutes=5)  # a sub may start this long after its OIRs
# F3548-21 ExternalDataMaxRetentionTimeHours: ended entities are purged after this long.
EXPIRED_RETENTION = timedelta(hours=24)

_UUID4 = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_entity_id(raw: str, what: str = "ID") -> EntityID:
    """A version-4 UUID, canonicalised to lower case (InterUSS IDFromString)."""
    if not _UUID4.fullmatch(raw):
        raise BadRequest(f"Invalid {what} format: `{raw}`")
    return EntityID(raw.lower())


def new_ovn(entity_id: str, moment: datetime) -> str:
    """A fresh opaque version number: 44 URL-safe characters that change on every write."""
    digest = hashlib.sha256(f"{entity_id}{moment.isoformat()}".encode() + os.urandom(8)).digest()
    return base64.b64encode(digest).decode().replace("+", "-").replace("/", ".").replace("=", "_")


def ovn_from_suffix(entity_id: str, suffix: str, now: datetime) -> str:
    """``{id}_{suffix}`` when ``suffix`` is a UUIDv7 stamped within MAX_CLOCK_SKEW of now."""
    try:
        parsed = uuid.UUID(suffix)
    except ValueError as exc:
        raise BadRequest(f"Suffix `{suffix}` is not a valid UUID") from exc
    if parsed.version != 7:
        raise BadRequest(f"Suffix `{suffix}` is not version 7 but version {parsed.version}")
    stamp = datetime.fromtimestamp((parsed.int >> 80) / 1000.0, UTC)
    skew = abs(now - stamp)
    if skew > MAX_CLOCK_SKEW:
        raise BadRequest(
            f"Suffix `{suffix}` is too far away from now (got {skew}, max is {MAX_CLOCK_SKEW})"
        )
    return f"{entity_id}_{suffix}"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client: its manager id (token ``sub``) and granted scopes."""

    manager: ManagerID
    scopes: frozenset[str]  # the token's scopes plus what its roles grant
    partner: str = "local"  # the partner whose token issuer vouched for the caller

    def manages(self, entity: OperationalIntentRef | ConstraintRef | Subscription) -> bool:
        """Whether the caller is the entity's manager: same subject and same partner.

        A partner's issuer may put any subject in its tokens, so the subject alone would
        let one partner act as another's USS.
        """
        return entity.manager == self.manager and entity.partner == self.partner


@dataclass(frozen=True, slots=True)
class Area:
    """A parsed area of interest or extent union: volumes, their covering and envelope."""

    volumes: tuple[geo.Volume4D, ...]
    cells: frozenset[int]
    bounds: geo.Bounds4D

    def footprint(self, *, altitudes: bool = True) -> Footprint:
        start = self.bounds.time_start or datetime.min.replace(tzinfo=UTC)
        end = self.bounds.time_end or datetime.max.replace(tzinfo=UTC)
        return Footprint(
            cells=self.cells,
            time_start=start,
            time_end=end,
            altitude_lower_w84_m=self.bounds.altitude_lower_w84_m if altitudes else None,
            altitude_upper_w84_m=self.bounds.altitude_upper_w84_m if altitudes else None,
        )


def area_of(
    volumes: Sequence[geo.Volume4D], *, field: str = "extents", require_outline: bool = True
) -> Area:
    """Cover and bound ``volumes``; volumes without an outline contribute no cells."""
    if not volumes:
        raise BadRequest(f"{field} must hold at least one volume")
    cells: set[int] = set()
    for i, volume in enumerate(volumes):
        if volume.outline is None:
            if require_outline:
                raise BadRequest(f"Missing footprint in {field}[{i}]")
            continue
        cells.update(s2cells.covering(volume.outline))
    return Area(volumes=tuple(volumes), cells=frozenset(cells), bounds=geo.envelope(volumes))


@dataclass(frozen=True, slots=True)
class ImplicitSubscriptionRequest:
    uss_base_url: str
    notify_for_constraints: bool = False


@dataclass(frozen=True, slots=True)
class OperationalIntentRequest:
    extents: Area
    key: frozenset[str]
    state: str
    uss_base_url: str
    subscription_id: str | None = None
    new_subscription: ImplicitSubscriptionRequest | None = None
    requested_ovn_suffix: str | None = None


@dataclass(frozen=True, slots=True)
class ConstraintRequest:
    extents: Area
    uss_base_url: str


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    extents: Area
    uss_base_url: str
    notify_for_operational_intents: bool
    notify_for_constraints: bool


@dataclass(frozen=True, slots=True)
class SubscriberNotice:
    """One subscription to notify, with its notification index after this change."""

    subscription_id: SubscriptionID
    uss_base_url: str
    notification_index: int


@dataclass(frozen=True, slots=True)
class Availabilities:
    """USS availability by manager, for rendering references."""

    by_manager: dict[str, UssAvailability] = field(default_factory=dict)

    def of(self, manager: str) -> UssAvailability:
        return self.by_manager.get(manager, UssAvailability.UNKNOWN)


@dataclass(frozen=True, slots=True)
class OperationalIntentChange:
    reference: OperationalIntentRef
    subscribers: list[SubscriberNotice]
    availabilities: Availabilities


@dataclass(frozen=True, slots=True)
class ConstraintChange:
    reference: ConstraintRef
    subscribers: list[SubscriberNotice]


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    dependent_operational_intents: list[EntityID]


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    view: SubscriptionView
    operational_intents: list[OperationalIntentRef] | None
    constraints: list[ConstraintRef] | None
    availabilities: Availabilities


def _availabilities(tx: AirspaceTx, managers: Iterable[str]) -> Availabilities:
    return Availabilities(tx.get_uss_availabilities(set(managers)))


def _known_availabilities(refs: Iterable[OperationalIntentRef]) -> Availabilities:
    """The managers' availabilities as read along with ``refs``."""
    return Availabilities({ref.manager: ref.uss_availability for ref in refs})


def _notify(
    tx: AirspaceTx, footprints: Sequence[Footprint], *, for_constraints: bool, final: bool = False
) -> list[SubscriberNotice]:
    """Bump and return every subscription interested in a change over ``footprints``.

    The footprints (old and new extents) are united as InterUSS does: all their cells
    over the envelope of their times; altitudes play no part. ``final``: the transaction's
    last call (see ``AirspaceTx.notify_subscriptions``).
    """
    union = Footprint(
        cells=frozenset().union(*(fp.cells for fp in footprints)),
        time_start=min(fp.time_start for fp in footprints),
        time_end=max(fp.time_end for fp in footprints),
    )
    return [
        SubscriberNotice(sub_id, url, index)
        for sub_id, url, index in tx.notify_subscriptions(
            union, for_constraints=for_constraints, final=final
        )
    ]


class DssService:
    """The DSS's operations; each runs in one transaction of ``store``."""

    def __init__(self, store: AirspaceStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    # ------------------------------------------------------------------ operational intents
    def get_operational_intent(
        self, caller: Caller, raw_id: str
    ) -> tuple[OperationalIntentRef, Availabilities]:
        entity_id = parse_entity_id(raw_id)

        def work(tx: AirspaceTx) -> tuple[OperationalIntentRef, Availabilities]:
            ref = tx.get_operational_intent(entity_id)
            if ref is None:
                raise NotFound(f"OperationalIntent {entity_id} not found")
            return ref, _known_availabilities([ref])

        return self._store.read(work)

    def query_operational_intents(
        self, caller: Caller, area: Area
    ) -> tuple[list[OperationalIntentRef], Availabilities]:
        if not area.cells:
            raise BadRequest("Missing geospatial footprint for query")

        def work(tx: AirspaceTx) -> tuple[list[OperationalIntentRef], Availabilities]:
            refs = tx.search_operational_intents(area.footprint())
            return refs, _known_availabilities(refs)

        return self._store.read(work)

    def put_operational_intent(
        self, caller: Caller, raw_id: str, ovn: str | None, request: OperationalIntentRequest
    ) -> OperationalIntentChange:
        """Create (``ovn is None``) or update an operational intent reference."""
        now = self._clock()
        entity_id = parse_entity_id(raw_id)
        if not request.uss_base_url:
            raise BadRequest("Missing required UssBaseUrl")
        subscription_id: SubscriptionID | None = None
        if request.subscription_id:
            subscription_id = SubscriptionID(
                parse_entity_id(request.subscription_id, "ID format for Subscription")
            )
        if request.new_subscription is not None:
            if not request.new_subscription.uss_base_url:
                raise BadRequest("Missing required USS base url for new subscription")
            if request.subscription_id is not None:
                raise BadRequest(
                    "Cannot provide both a Subscription ID and request an implicit subscription"
                )
        try:
            state = OperationalIntentState(request.state)
        except ValueError as exc:
            raise BadRequest(f"Invalid OperationalIntent state: {request.state}") from exc
        bounds = request.extents.bounds
        if bounds.time_start is None:
            raise BadRequest("Missing start time")
        if bounds.time_end is None:
            raise BadRequest("Missing end time")
        if bounds.altitude_lower_w84_m is None:
            raise BadRequest("Missing lower altitude")
        if bounds.altitude_upper_w84_m is None:
            raise BadRequest("Missing upper altitude")
        if bounds.time_end < now:
            raise BadRequest("End time may not be in the past")
        if ovn is None and state is not OperationalIntentState.ACCEPTED:
            raise BadRequest(f"Invalid state for initial version: `{state.value}`")
        requested_ovn = (
            ovn_from_suffix(entity_id, request.requested_ovn_suffix, now)
            if request.requested_ovn_suffix is not None
            else None
        )
        if (
            state is not OperationalIntentState.ACCEPTED
            and subscription_id is None
            and request.new_subscription is None
        ):
            raise BadRequest(
                f"Provided Operational Intent Reference state `{state.value}` requires either a "
                "subscription ID or information to create an implicit subscription"
            )
        if state in (OperationalIntentState.NONCONFORMING, OperationalIntentState.CONTINGENT) and (
            SCOPE_CONFORMANCE_MONITORING_SA not in caller.scopes
        ):
            raise PermissionDenied(
                f"Missing `{SCOPE_CONFORMANCE_MONITORING_SA}` Conformance Monitoring for "
                "Situational Awareness scope to transition to CMSA state: "
                f"{state.value} (see SCD0100)"
            )
        footprint = request.extents.footprint()

        def work(tx: AirspaceTx) -> OperationalIntentChange:
            # A create locks its cells in the read's round trip; an update needs the stored
            # extents first, then locks old and new cells together (ascending, no deadlock).
            # A create's key check searches the cells it locks: in the read's round trip.
            checks_key = state in (
                OperationalIntentState.ACCEPTED,
                OperationalIntentState.ACTIVATED,
            )
            old, own_availability, found = tx.get_operational_intent_for_write(
                entity_id,
                caller.manager,
                lock_cells=footprint.cells if ovn is None else (),
                search=footprint if ovn is None and checks_key else None,
            )
            if old is not None:
                if not caller.manages(old):
                    raise _not_owner("OperationalIntent", old.manager, caller, "modify")
                if old.ovn != (ovn or ""):
                    raise _stale(old.ovn, ovn or "")
            elif ovn is not None:
                raise BadRequest(
                    f"OperationalIntent does not exist and therefore is not version {ovn}"
                )
            tx.lock_cells(footprint.cells | (old.footprint.cells if old else frozenset()))
            version = old.version + 1 if old else 1
            previous_sub = (
                tx.get_subscription(old.subscription_id) if old and old.subscription_id else None
            )
            replacing = previous_sub is not None and previous_sub.id != subscription_id
            remove_previous = (
                replacing
                and previous_sub is not None
                and previous_sub.implicit
                and tx.dependent_operational_intents(previous_sub.id) == [entity_id]
            )
            attached = previous_sub
            new_implicit: Subscription | None = None
            if subscription_id is None:
                if request.new_subscription is not None:
                    attached = Subscription(
                        id=SubscriptionID(str(uuid.uuid4())),
                        manager=caller.manager,
                        version=new_ovn("sub", now),
                        uss_base_url=request.new_subscription.uss_base_url,
                        notification_index=0,
                        notify_for_operational_intents=True,
                        notify_for_constraints=request.new_subscription.notify_for_constraints,
                        implicit=True,
                        footprint=footprint,
                        updated_at=now,
                        partner=caller.partner,
                    )
                    new_implicit = attached
                else:
                    attached = None
            else:
                if attached is None or replacing:
                    attached = tx.get_subscription(subscription_id, for_update=True)
                    if attached is None:
                        raise BadRequest(f"Specified Subscription {subscription_id} does not exist")
                if not caller.manages(attached):
                    raise PermissionDenied("Specificed Subscription is owned by different client")
                attached = self._ensure_covers(tx, attached, footprint, now)
            if checks_key:
                self._check_key(tx, caller, entity_id, footprint, request.key, attached, found)
            if new_implicit is not None:  # stored once the key check has passed
                tx.put_subscription(new_implicit, None)
            ref = OperationalIntentRef(
                id=entity_id,
                manager=caller.manager,
                version=version,
                state=state,
                ovn=requested_ovn or new_ovn(entity_id, now),
                uss_base_url=request.uss_base_url,
                subscription_id=attached.id if attached else None,
                footprint=footprint,
                updated_at=now,
                partner=caller.partner,
            )
            tx.put_operational_intent(ref, old)
            if remove_previous and previous_sub is not None:
                tx.delete_subscription(previous_sub.id)
            verb = "create" if old is None else "update"
            _audit(tx, caller, f"operational_intent.{verb}", ref.id, old, ref, now)
            touched = [footprint] if old is None else [footprint, old.footprint]
            subscribers = _notify(tx, touched, for_constraints=False, final=True)
            availability: dict[str, UssAvailability] = (
                {ref.manager: own_availability} if own_availability else {}
            )
            return OperationalIntentChange(ref, subscribers, Availabilities(availability))

        return self._store.write(work)

    def _ensure_covers(
        self, tx: AirspaceTx, sub: Subscription, footprint: Footprint, now: datetime
    ) -> Subscription:
        """Grow an implicit subscription to cover ``footprint``; refuse an explicit one."""
        fp = sub.footprint
        start, end, cells = fp.time_start, fp.time_end, fp.cells
        if start > footprint.time_start:
            if not sub.implicit:
                raise BadRequest(
                    "Subscription does not begin until after the OperationalIntent starts"
                )
            start = footprint.time_start
        if end < footprint.time_end:
            if not sub.implicit:
                raise BadRequest("Subscription ends before the OperationalIntent ends")
            end = footprint.time_end
        if not footprint.cells <= cells:
            if not sub.implicit:
                raise BadRequest(
                    "Subscription does not cover entire spatial area of the OperationalIntent"
                )
            cells = cells | footprint.cells
        if (start, end, cells) == (fp.time_start, fp.time_end, fp.cells):
            return sub
        grown = replace(
            sub,
            version=new_ovn(sub.id, now),
            footprint=replace(fp, time_start=start, time_end=end, cells=cells),
            updated_at=now,
        )
        tx.lock_cells(cells)
        tx.put_subscription(grown, sub)
        return grown

    def _check_key(
        self,
        tx: AirspaceTx,
        caller: Caller,
        entity_id: EntityID,
        footprint: Footprint,
        key: frozenset[str],
        attached: Subscription | None,
        found: list[OperationalIntentRef] | None = None,
    ) -> None:
        """Raise MissingKey unless ``key`` holds the OVN of every entity the change must respect.

        ``found``: the intents meeting ``footprint``, if searched already under its locks.
        """
        relevant = found if found is not None else tx.search_operational_intents(footprint)
        availability = _known_availabilities(relevant)
        missing_ops = [
            op
            for op in relevant
            if op.id != entity_id
            and op.ovn not in key
            # An Accepted (not yet flying) intent of a USS that is Down does not block others.
            and not (
                availability.of(op.manager) is UssAvailability.DOWN
                and op.state is OperationalIntentState.ACCEPTED
            )
        ]
        missing_constraints: list[ConstraintRef] = []
        if attached is not None and attached.notify_for_constraints:
            unbounded = replace(footprint, altitude_lower_w84_m=None, altitude_upper_w84_m=None)
            missing_constraints = [c for c in tx.search_constraints(unbounded) if c.ovn not in key]
        if missing_ops or missing_constraints:
            raise MissingKey(
                "Current OVNs not provided for one or more OperationalIntents or Constraints",
                missing_ops,
                missing_constraints,
                availability.by_manager,
            )

    def delete_operational_intent(
        self, caller: Caller, raw_id: str, ovn: str
    ) -> OperationalIntentChange:
        entity_id = parse_entity_id(raw_id)
        if not ovn:
            raise BadRequest("Missing OVN for operational intent to modify")

        def work(tx: AirspaceTx) -> OperationalIntentChange:
            old = tx.get_operational_intent(entity_id, for_update=True)
            if old is None:
                raise NotFound(f"OperationalIntent {entity_id} not found")
            if not caller.manages(old):
                raise _not_owner("OperationalIntent", old.manager, caller, "delete")
            if old.ovn != ovn:
                raise _stale(old.ovn, ovn)
            tx.lock_cells(old.footprint.cells)
            sub = tx.get_subscription(old.subscription_id) if old.subscription_id else None
            remove_sub = (
                sub is not None
                and sub.implicit
                and tx.dependent_operational_intents(sub.id) == [entity_id]
            )
            _audit(tx, caller, "operational_intent.delete", old.id, old, None, self._clock())
            subscribers = _notify(tx, [old.footprint], for_constraints=False)
            tx.delete_operational_intent(entity_id)
            if remove_sub and sub is not None:
                tx.delete_subscription(sub.id)
            return OperationalIntentChange(old, subscribers, _known_availabilities([old]))

        return self._store.write(work)

    # ------------------------------------------------------------------ constraints
    def get_constraint(self, caller: Caller, raw_id: str) -> ConstraintRef:
        entity_id = parse_entity_id(raw_id)

        def work(tx: AirspaceTx) -> ConstraintRef:
            ref = tx.get_constraint(entity_id)
            if ref is None:
                raise NotFound(f"Constraint {entity_id} not found")
            return ref

        return self._store.read(work)

    def query_constraints(self, caller: Caller, area: Area) -> list[ConstraintRef]:
        if not area.cells:
            raise BadRequest("Missing geospatial footprint for query")
        return self._store.read(lambda tx: tx.search_constraints(area.footprint(altitudes=False)))

    def put_constraint(
        self, caller: Caller, raw_id: str, ovn: str | None, request: ConstraintRequest
    ) -> ConstraintChange:
        now = self._clock()
        entity_id = parse_entity_id(raw_id)
        if not request.uss_base_url:
            raise BadRequest("Missing required UssBaseUrl")
        bounds = request.extents.bounds
        if bounds.time_start is None:
            raise BadRequest("Missing start time")
        if bounds.time_end is None:
            raise BadRequest("Missing end time")
        if bounds.time_end < now:
            raise BadRequest("End time may not be in the past")
        footprint = request.extents.footprint()

        def work(tx: AirspaceTx) -> ConstraintChange:
            old = tx.get_constraint(entity_id, for_update=True)
            tx.lock_cells(footprint.cells | (old.footprint.cells if old else frozenset()))
            if old is None:
                if ovn is not None:
                    raise VersionMismatch(f"Old version {ovn} does not exist")
            else:
                if not caller.manages(old):
                    raise _not_owner("Constraint", old.manager, caller, "modify")
                if old.ovn != (ovn or ""):
                    raise _stale(old.ovn, ovn or "")
            ref = ConstraintRef(
                id=entity_id,
                manager=caller.manager,
                version=old.version + 1 if old else 1,
                ovn=new_ovn(entity_id, now),
                uss_base_url=request.uss_base_url,
                footprint=footprint,
                updated_at=now,
                partner=caller.partner,
            )
            tx.put_constraint(ref, old)
            verb = "create" if old is None else "update"
            _audit(tx, caller, f"constraint.{verb}", ref.id, old, ref, now)
            touched = [footprint] if old is None else [footprint, old.footprint]
            return ConstraintChange(ref, _notify(tx, touched, for_constraints=True, final=True))

        return self._store.write(work)

    def delete_constraint(self, caller: Caller, raw_id: str, ovn: str) -> ConstraintChange:
        entity_id = parse_entity_id(raw_id)
        if not ovn:
            raise BadRequest("Missing OVN for constraint to modify")

        def work(tx: AirspaceTx) -> ConstraintChange:
            old = tx.get_constraint(entity_id, for_update=True)
            if old is None:
                raise NotFound(f"Constraint {entity_id} not found")
            if not caller.manages(old):
                raise _not_owner("Constraint", old.manager, caller, "delete")
            if old.ovn != ovn:
                raise _stale(old.ovn, ovn)
            tx.lock_cells(old.footprint.cells)
            _audit(tx, caller, "constraint.delete", old.id, old, None, self._clock())
            subscribers = _notify(tx, [old.footprint], for_constraints=True)
            tx.delete_constraint(entity_id)
            return ConstraintChange(old, subscribers)

        return self._store.write(work)

    # ------------------------------------------------------------------ subscriptions
    def get_subscription(self, caller: Caller, raw_id: str) -> SubscriptionView:
        sub_id = SubscriptionID(parse_entity_id(raw_id))

        def work(tx: AirspaceTx) -> SubscriptionView:
            sub = tx.get_subscription(sub_id)
            if sub is None:
                raise NotFound(f"Subscription {sub_id} not found")
            if not caller.manages(sub):
                raise PermissionDenied("Subscription is owned by different client")
            return SubscriptionView(sub, tx.dependent_operational_intents(sub_id))

        return self._store.read(work)

    def query_subscriptions(self, caller: Caller, area: Area) -> list[SubscriptionView]:
        if not area.cells:
            raise BadRequest("Missing geospatial footprint for query")
        now = self._clock()

        def work(tx: AirspaceTx) -> list[SubscriptionView]:
            subs = tx.search_subscriptions(area.footprint(altitudes=False))
            return [
                SubscriptionView(sub, tx.dependent_operational_intents(sub.id))
                for sub in subs
                if sub.manager == caller.manager and sub.footprint.time_end >= now
            ]

        return self._store.read(work)

    def put_subscription(
        self, caller: Caller, raw_id: str, version: str | None, request: SubscriptionRequest
    ) -> SubscriptionChange:
        now = self._clock()
        sub_id = SubscriptionID(parse_entity_id(raw_id))
        if not request.notify_for_operational_intents and not request.notify_for_constraints:
            raise BadRequest("No notification triggers requested for Subscription")
        bounds = request.extents.bounds

        def work(tx: AirspaceTx) -> SubscriptionChange:
            old = tx.get_subscription(sub_id, for_update=True)
            start = bounds.time_start
            if start is None:
                start = now if old is None else old.footprint.time_start
            elif now - start > MAX_CLOCK_SKEW:
                raise BadRequest("Subscription time_start must not be in the past")
            end = bounds.time_end
            if end is None:
                end = (
                    old.footprint.time_end if old is not None else start + MAX_SUBSCRIPTION_DURATION
                )
            if end < start:
                raise BadRequest("Subscription time_end must be after time_start")
            if end - start > MAX_SUBSCRIPTION_DURATION:
                raise BadRequest("Subscription window exceeds 24 hours")
            footprint = Footprint(
                cells=request.extents.cells,
                time_start=start,
                time_end=end,
                altitude_lower_w84_m=bounds.altitude_lower_w84_m,
                altitude_upper_w84_m=bounds.altitude_upper_w84_m,
            )
            dependents: list[EntityID] = []
            if old is None:
                if version:
                    raise BadRequest(f"Subscription {sub_id} not found")
                notification_index = 0
            else:
                if not version:
                    raise VersionMismatch(f"Subscription {sub_id} already exists")
                if version != old.version:
                    raise VersionMismatch(f"Subscription version {version} is not current")
                if not caller.manages(old):
                    raise PermissionDenied("Subscription is owned by different client")
                notification_index = old.notification_index
                dependents = tx.dependent_operational_intents(sub_id)
                for op_id in dependents:
                    op = tx.get_operational_intent(op_id)
                    if op is not None and not _subscription_covers(footprint, op.footprint):
                        raise BadRequest("Subscription does not cover dependent operations")
            tx.lock_cells(footprint.cells | (old.footprint.cells if old else frozenset()))
            sub = Subscription(
                id=sub_id,
                manager=caller.manager,
                version=new_ovn(sub_id, now),
                uss_base_url=request.uss_base_url,
                notification_index=notification_index,
                notify_for_operational_intents=request.notify_for_operational_intents,
                notify_for_constraints=request.notify_for_constraints,
                implicit=False,
                footprint=footprint,
                updated_at=now,
                partner=caller.partner,
            )
            tx.put_subscription(sub, old)
            verb = "create" if old is None else "update"
            _audit(tx, caller, f"subscription.{verb}", sub.id, old, sub, now)
            search_area = replace(footprint, altitude_lower_w84_m=None, altitude_upper_w84_m=None)
            ops = (
                tx.search_operational_intents(search_area)
                if sub.notify_for_operational_intents
                else None
            )
            constraints = tx.search_constraints(search_area) if sub.notify_for_constraints else None
            return SubscriptionChange(
                SubscriptionView(sub, dependents),
                ops,
                constraints,
                _known_availabilities(ops or []),
            )

        return self._store.write(work)

    def delete_subscription(self, caller: Caller, raw_id: str, version: str) -> SubscriptionView:
        sub_id = SubscriptionID(parse_entity_id(raw_id, "ID"))
        if not version:
            raise BadRequest("Missing version")

        def work(tx: AirspaceTx) -> SubscriptionView:
            old = tx.get_subscription(sub_id, for_update=True)
            if old is None:
                raise NotFound(f"Subscription {sub_id} not found")
            if not caller.manages(old):
                raise PermissionDenied("Subscription is owned by different client")
            if old.version != version:
                raise VersionMismatch(f"Subscription version {version} is not current")
            dependents = tx.dependent_operational_intents(sub_id)
            if dependents:
                raise DependencyConflict(
                    "Subscriptions with dependent Operations may not be removed"
                )
            tx.delete_subscription(sub_id)
            _audit(tx, caller, "subscription.delete", old.id, old, None, self._clock())
            return SubscriptionView(old, dependents)

        return self._store.write(work)

    # ------------------------------------------------------------------ USS availability
    def get_uss_availability(self, caller: Caller, uss_id: str) -> UssAvailabilityStatus:
        if not uss_id:
            raise BadRequest("UssId not provided")
        status = self._store.read(lambda tx: tx.get_uss_availability(uss_id))
        return status or UssAvailabilityStatus(uss_id, UssAvailability.UNKNOWN, "", None)

    def set_uss_availability(
        self, caller: Caller, uss_id: str, availability: str, old_version: str
    ) -> UssAvailabilityStatus:
        if not uss_id:
            raise BadRequest("ussID not provided.")
        try:
            state = UssAvailability((availability or "Unknown").strip().capitalize())
        except ValueError as exc:
            raise BadRequest(f"Invalid availability state: {availability}") from exc
        now = self._clock()

        def work(tx: AirspaceTx) -> UssAvailabilityStatus:
            old = tx.get_uss_availability(uss_id)
            if old is None and old_version:
                raise VersionMismatch(f"availability for USS {uss_id} already exists")
            if old is not None and old.version != old_version:
                raise VersionMismatch(f"USS availability version {old_version} is not current")
            status = UssAvailabilityStatus(uss_id, state, new_ovn(uss_id, now), now)
            tx.put_uss_availability(status)
            _audit(tx, caller, "uss_availability.set", uss_id, old, status, now)
            return status

        return self._store.write(work)

    # ------------------------------------------------------------------ reports
    def record_report(self, caller: Caller, report: dict[str, object]) -> str:
        """Keep a USS's report of a problem; return its id."""
        report_id = str(uuid.uuid4())
        body = json.dumps(report, default=str, sort_keys=True)
        now = self._clock()

        def work(tx: AirspaceTx) -> None:
            tx.put_report(report_id, caller.manager, body, now)
            _audit(tx, caller, "report.create", report_id, None, body, now)

        self._store.write(work)
        return report_id

    # ------------------------------------------------------------------ ownership
    def partner_of(self, kind: str, raw_id: str) -> str | None:
        """The partner owning the ``kind`` entity ``raw_id`` ("operational_intent",
        "constraint" or "subscription"); None when there is no such entity."""
        if not _UUID4.fullmatch(raw_id):
            return None
        entity_id = EntityID(raw_id.lower())
        readers: dict[str, Callable[[AirspaceTx], object | None]] = {
            "operational_intent": lambda tx: tx.get_operational_intent(entity_id),
            "constraint": lambda tx: tx.get_constraint(entity_id),
            "subscription": lambda tx: tx.get_subscription(SubscriptionID(entity_id)),
        }
        found = self._store.read(readers[kind])
        return None if found is None else str(getattr(found, "partner", None))

    # ------------------------------------------------------------------ housekeeping
    def purge_expired(self, retention: timedelta = EXPIRED_RETENTION) -> int:
        """Delete entities that ended more than ``retention`` ago; return how many."""
        cutoff = self._clock() - retention
        return self._store.write(lambda tx: tx.delete_expired(cutoff))


def _audit(
    tx: AirspaceTx,
    caller: Caller,
    action: str,
    target_id: str,
    before: object | None,
    after: object | None,
    at: datetime,
) -> None:
    """Put the change on the audit chain, in the transaction that makes it."""
    tx.audit(
        AuditEvent(
            partner=caller.partner,
            actor=caller.manager,
            action=f"dss.{action}",
            target_kind=action.split(".")[0],
            target_id=target_id,
            before_digest=None if before is None else digest_of(before),
            after_digest=None if after is None else digest_of(after),
            at=at,
        )
    )


def _not_owner(kind: str, owner: str, caller: Caller, verb: str) -> PermissionDenied:
    return PermissionDenied(f"{kind} owned by {owner}, but {caller.manager} attempted to {verb}")


def _stale(current_ovn: str, given: str) -> VersionMismatch:
    return VersionMismatch(f"Current version is {current_ovn} but client specified version {given}")


def _subscription_covers(sub: Footprint, op: Footprint) -> bool:
    """InterUSS ValidateDependentOp: area, altitude, and time within tolerance."""
    if not op.cells <= sub.cells:
        return False
    if (
        sub.altitude_lower_w84_m is not None
        and op.altitude_lower_w84_m is not None
        and op.altitude_lower_w84_m < sub.altitude_lower_w84_m
    ):
        return False
    if (
        sub.altitude_upper_w84_m is not None
        and op.altitude_upper_w84_m is not None
        and op.altitude_upper_w84_m > sub.altitude_upper_w84_m
    ):
        return False
    if sub.time_start - op.time_start > DEPENDENT_START_TOLERANCE:
        return False
    return op.time_end <= sub.time_end
