"""The DSS's entities as the core sees them: plain frozen dataclasses, no wire types.

Each entity stores the union of its extents the way the DSS indexes it: a set of
level-13 S2 cells plus the time and altitude envelope (see ``geo.Bounds4D``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NewType

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """Integer microseconds since the Unix epoch (exact; how stores and indexes keep time)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


EntityID = NewType("EntityID", str)
SubscriptionID = NewType("SubscriptionID", str)
ManagerID = NewType("ManagerID", str)


class OperationalIntentState(StrEnum):
    """F3548-21 operational intent states (``Ended`` is never stored: it is a deletion)."""

    ACCEPTED = "Accepted"
    ACTIVATED = "Activated"
    NONCONFORMING = "Nonconforming"
    CONTINGENT = "Contingent"


class UssAvailability(StrEnum):
    UNKNOWN = "Unknown"
    NORMAL = "Normal"
    DOWN = "Down"


@dataclass(frozen=True, slots=True)
class Footprint:
    """Where and when an entity is: S2 cells, time envelope ``[start, end)``, altitude envelope."""

    cells: frozenset[int]
    time_start: datetime
    time_end: datetime
    altitude_lower_w84_m: float | None = None
    altitude_upper_w84_m: float | None = None


@dataclass(frozen=True, slots=True)
class OperationalIntentRef:
    """An operational intent reference; ``uss_availability`` is its manager's, as read."""

    id: EntityID
    manager: ManagerID
    version: int
    state: OperationalIntentState
    ovn: str
    uss_base_url: str
    subscription_id: SubscriptionID | None
    footprint: Footprint
    updated_at: datetime
    uss_availability: UssAvailability = UssAvailability.UNKNOWN
    partner: str = "local"  # the partner whose caller created it (trust.partners)


@dataclass(frozen=True, slots=True)
class ConstraintRef:
    id: EntityID
    manager: ManagerID
    version: int
    ovn: str
    uss_base_url: str
    footprint: Footprint
    updated_at: datetime
    partner: str = "local"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: SubscriptionID
    manager: ManagerID
    version: str
    uss_base_url: str
    notification_index: int
    notify_for_operational_intents: bool
    notify_for_constraints: bool
    implicit: bool
    footprint: Footprint
    updated_at: datetime
    partner: str = "local"


@dataclass(frozen=True, slots=True)
class UssAvailabilityStatus:
    uss_id: str
    availability: UssAvailability
    version: str
    updated_at: datetime | None
