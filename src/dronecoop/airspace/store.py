"""The storage port of the airspace capability: what the DSS logic needs from a database.

A store hands out transactions. ``write()`` transactions are serialised wherever they
touch the same S2 cells (``lock_cells``) so that two conflicting creates can never both
pass the key check; ``read()`` transactions see a consistent snapshot. Two creates of one
id race to insert its row: the loser's transaction fails on the primary key and the store
runs it again, when it finds the row present (so an entity is read ``for_update`` and
never locked by id beforehand).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import NamedTuple, Protocol, TypeVar

from dronecoop.airspace.model import (
    ConstraintRef,
    EntityID,
    Footprint,
    OperationalIntentRef,
    Subscription,
    SubscriptionID,
    UssAvailability,
    UssAvailabilityStatus,
)
from dronecoop.trust.audit import AuditEvent

T = TypeVar("T")


class WriteRead(NamedTuple):
    """What ``AirspaceTx.get_operational_intent_for_write`` read."""

    intent: OperationalIntentRef | None
    availability: UssAvailability | None
    # The intents met by its ``search`` (None when not asked).
    found: list[OperationalIntentRef] | None


class AirspaceTx(Protocol):
    """One database transaction over the DSS's entities."""

    def lock_cells(self, cells: Iterable[int]) -> None:
        """Serialise against every other writer touching any of ``cells`` until commit.

        A store may take the locks with the transaction's next statement rather than at
        once: everything the transaction reads or writes after this call runs under them.
        """

    def audit(self, event: AuditEvent) -> None:
        """Append ``event`` to the audit chain, committed with this transaction or not at all."""

    def get_operational_intent(
        self, entity_id: EntityID, *, for_update: bool = False
    ) -> OperationalIntentRef | None: ...

    def get_operational_intent_for_write(
        self,
        entity_id: EntityID,
        manager: str,
        *,
        lock_cells: Iterable[int] = (),
        search: Footprint | None = None,
    ) -> WriteRead:
        """The stored intent, locked until commit, and ``manager``'s recorded availability.

        One read where a writer needs both (the reply reports the writer's availability).
        ``lock_cells`` are locked first, as ``lock_cells`` would, in the same round trip: a
        create knows its cells before it reads (a later read sees what the lock waited for).
        ``search``: also return ``search_operational_intents(search)``, run once the locks
        are held (a create's key check, in the read's round trip where the store can).
        """

    def search_operational_intents(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[OperationalIntentRef]:
        """Intents sharing a cell with ``area`` whose time and altitude envelopes overlap it."""

    def put_operational_intent(
        self, ref: OperationalIntentRef, previous: OperationalIntentRef | None
    ) -> None:
        """Insert ``ref``, or replace ``previous`` (the stored version read in this tx)."""

    def delete_operational_intent(self, entity_id: EntityID) -> None: ...

    def get_constraint(
        self, entity_id: EntityID, *, for_update: bool = False
    ) -> ConstraintRef | None: ...

    def search_constraints(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[ConstraintRef]: ...

    def put_constraint(self, ref: ConstraintRef, previous: ConstraintRef | None) -> None: ...

    def delete_constraint(self, entity_id: EntityID) -> None: ...

    def get_subscription(
        self, subscription_id: SubscriptionID, *, for_update: bool = False
    ) -> Subscription | None: ...

    def search_subscriptions(
        self, area: Footprint, *, now: datetime | None = None
    ) -> list[Subscription]: ...

    def put_subscription(self, sub: Subscription, previous: Subscription | None) -> None: ...

    def delete_subscription(self, subscription_id: SubscriptionID) -> None: ...

    def notify_subscriptions(
        self, area: Footprint, *, for_constraints: bool, final: bool = False
    ) -> list[tuple[SubscriptionID, str, int]]:
        """Bump the notification index of every subscription interested in ``area``.

        Interested: notifies for operational intents (or constraints), shares a cell with
        ``area`` and overlaps its time envelope (altitudes are ignored, as InterUSS does).
        Returns ``(id, uss_base_url, new notification index)`` in id order. ``final``: the
        transaction makes no other call after this one, so the store may commit with it.
        """

    def dependent_operational_intents(self, subscription_id: SubscriptionID) -> list[EntityID]:
        """Ids of the intents attached to ``subscription_id``, in id order."""

    def get_uss_availability(self, uss_id: str) -> UssAvailabilityStatus | None: ...

    def get_uss_availabilities(self, uss_ids: Collection[str]) -> dict[str, UssAvailability]:
        """Known availabilities of ``uss_ids`` (absent ones are Unknown)."""

    def put_uss_availability(self, status: UssAvailabilityStatus) -> None: ...

    def put_report(self, report_id: str, reporter: str, body_json: str, at: datetime) -> None:
        """Keep a USS's error report (F3548-21 DSS reports)."""

    def delete_expired(self, ended_before: datetime) -> int:
        """Delete entities whose time envelope ended before ``ended_before``; return count."""


class AirspaceStore(Protocol):
    """A database holding the DSS's entities.

    Work is passed in as a function of a transaction so that the store can run it again
    when the database reports a transient failure (deadlock, serialisation failure,
    busy file); the function must therefore have no side effect outside ``tx``.
    """

    def write(self, work: Callable[[AirspaceTx], T]) -> T: ...

    def read(self, work: Callable[[AirspaceTx], T]) -> T: ...

    def close(self) -> None: ...
