"""A flight as a partner's USS keeps it: who owns it, its volumes, priority and details."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dronecoop.airspace.geo import Volume4D


class FlightState(StrEnum):
    ACCEPTED = "Accepted"
    ACTIVATED = "Activated"
    ENDED = "Ended"


# Fields of a flight's details that the releasability policy governs one by one.
DETAIL_FIELDS = ("mission", "aircraft", "payload", "crew", "notes")


@dataclass(frozen=True, slots=True)
class Flight:
    id: str  # also its operational intent's id in the DSS
    partner: str
    manager: str  # the token subject that planned it
    state: FlightState
    priority: int
    volumes: tuple[Volume4D, ...]
    ovn: str
    created_at: datetime
    released_to: frozenset[str] = frozenset()
    details: dict[str, Any] = field(default_factory=dict, compare=False)
