"""Work orders (pure rules): task cards signed by a technician, critical ones inspected by
a second person, parts drawn, and a depot that sees the aircraft only while assigned."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dronecoop.planning.errors import PlanningError


class WorkOrderStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class WorkOrderError(PlanningError):
    """A work order step the rules do not allow (who, in what order)."""


@dataclass(frozen=True, slots=True)
class TaskCard:
    title: str
    critical: bool = False
    task_code: str | None = None  # a program task: done when the card is signed off
    defect_id: str | None = None  # a defect: closed when the card is signed off
    signed_by: str | None = None
    signed_at: datetime | None = None
    inspected_by: str | None = None  # the second person, for critical cards
    inspected_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.signed_by is not None and (not self.critical or self.inspected_by is not None)


@dataclass(frozen=True, slots=True)
class PartDrawn:
    part_number: str
    quantity: int
    drawn_by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class WorkOrder:
    id: str
    aircraft_id: str
    owner: str  # the aircraft's partner
    depot: str  # the partner whose depot does the work (may be the owner)
    status: WorkOrderStatus
    cards: tuple[TaskCard, ...]
    parts: tuple[PartDrawn, ...] = ()
    opened_by: str = ""
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    notes: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def open(self) -> bool:
        return self.status is WorkOrderStatus.OPEN

    def assigned_depot(self) -> str | None:
        """The partner this order lets see and work on the aircraft (while it is open)."""
        return self.depot if self.open and self.depot != self.owner else None


def sign(order: WorkOrder, index: int, who: str, partner: str, at: datetime) -> WorkOrder:
    """The technician's signature on card ``index``."""
    card = _card(order, index, partner)
    if card.signed_by is not None:
        raise WorkOrderError(f"card {index} is already signed by {card.signed_by}")
    return _with(order, index, replace(card, signed_by=who, signed_at=at))


def inspect(order: WorkOrder, index: int, who: str, partner: str, at: datetime) -> WorkOrder:
    """The second inspector's signature on a critical card: someone else than the signer."""
    card = _card(order, index, partner)
    if not card.critical:
        raise WorkOrderError(f"card {index} is not critical: it needs no second inspection")
    if card.signed_by is None:
        raise WorkOrderError(f"card {index} must be signed by its technician first")
    if card.inspected_by is not None:
        raise WorkOrderError(f"card {index} is already inspected by {card.inspected_by}")
    if who == card.signed_by:
        raise WorkOrderError(
            f"card {index}: the second inspector must be someone else than {card.signed_by}"
        )
    return _with(order, index, replace(card, inspected_by=who, inspected_at=at))


def complete(order: WorkOrder, partner: str, at: datetime) -> WorkOrder:
    _may_work(order, partner)
    unfinished = [i for i, c in enumerate(order.cards) if not c.complete]
    if unfinished:
        raise WorkOrderError(
            f"cards {unfinished} are not signed off (critical cards need a second inspector)"
        )
    return replace(order, status=WorkOrderStatus.COMPLETED, closed_at=at)


def _card(order: WorkOrder, index: int, partner: str) -> TaskCard:
    _may_work(order, partner)
    if not 0 <= index < len(order.cards):
        raise WorkOrderError(f"work order {order.id} has no card {index}")
    return order.cards[index]


def _may_work(order: WorkOrder, partner: str) -> None:
    if not order.open:
        raise WorkOrderError(f"work order {order.id} is {order.status.value}")
    if partner not in (order.owner, order.depot):
        raise WorkOrderError(f"{partner} is neither the owner nor the assigned depot")


def _with(order: WorkOrder, index: int, card: TaskCard) -> WorkOrder:
    cards = list(order.cards)
    cards[index] = card
    return replace(order, cards=tuple(cards))
