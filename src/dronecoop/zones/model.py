"""A zone: a restricted area a partner publishes as an F3548 constraint."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dronecoop.airspace.geo import Volume4D


class Restriction(StrEnum):
    """ED-269 ``restriction`` values; every one but NO_RESTRICTION keeps flights out."""

    PROHIBITED = "PROHIBITED"
    REQ_AUTHORISATION = "REQ_AUTHORISATION"
    CONDITIONAL = "CONDITIONAL"
    NO_RESTRICTION = "NO_RESTRICTION"


@dataclass(frozen=True, slots=True)
class ZoneDraft:
    """A zone as read from a file, before it is published."""

    name: str
    restriction: Restriction
    volumes: tuple[Volume4D, ...]
    source: dict[str, Any] = field(default_factory=dict, compare=False)  # identifier, reason


@dataclass(frozen=True, slots=True)
class Zone:
    id: str  # also its constraint reference's id in the DSS
    partner: str
    manager: str
    name: str
    restriction: Restriction
    volumes: tuple[Volume4D, ...]
    ovn: str
    created_at: datetime
    withdrawn: bool = False
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        """The F3548 ``ConstraintDetails.type`` peers see: restriction and name."""
        return f"{self.restriction.value}: {self.name}"
