"""Airspace errors. The core raises these; the HTTP adapter maps each to a status code.

AirspaceError
├── BadRequest               malformed or out-of-limits input
│   ├── BadGeometry          an outline that is not a usable region
│   └── AreaTooLarge         a region needing too many S2 cells
├── NotFound                 no such entity (or not visible to the caller)
├── PermissionDenied         the caller does not manage the entity
├── VersionMismatch          the OVN/version given is not the current one
├── MissingKey               the key lacks OVNs of intersecting entities (AirspaceConflict)
└── DependencyConflict       an entity other entities still depend on
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dronecoop.airspace.model import ConstraintRef, OperationalIntentRef, UssAvailability


class AirspaceError(Exception):
    """Base class of the airspace capability's errors."""


class BadRequest(AirspaceError):
    pass


class BadGeometry(BadRequest):
    pass


class AreaTooLarge(BadRequest):
    pass


class NotFound(AirspaceError):
    pass


class PermissionDenied(AirspaceError):
    pass


class VersionMismatch(AirspaceError):
    pass


class DependencyConflict(AirspaceError):
    pass


class MissingKey(AirspaceError):
    """The key does not prove knowledge of every intersecting entity's current OVN."""

    def __init__(
        self,
        message: str,
        missing_operational_intents: Sequence[OperationalIntentRef],
        missing_constraints: Sequence[ConstraintRef],
        availability_by_manager: Mapping[str, UssAvailability] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing_operational_intents = list(missing_operational_intents)
        self.missing_constraints = list(missing_constraints)
        self.availability_by_manager = dict(availability_by_manager or {})
