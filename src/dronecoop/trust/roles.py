"""Roles a partner's people hold, and the permissions each grants.

A permission is a string. The F3548-21 scopes (``utm.strategic_coordination`` ...) are
permissions in their own right, so an InterUSS USS whose token carries only the standard's
scopes works unchanged; dronecoop's people carry roles instead, as scopes named
``dronecoop.role.<role>`` in the same ``scope`` claim. A caller's permissions are its
scopes plus everything its roles grant; routes ask for permissions, never for roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from uas_standards.astm.f3548.v21 import constants as f3548

ROLE_SCOPE_PREFIX = "dronecoop.role."

# F3548-21 scopes (as the InterUSS astm-utm OpenAPI names them).
STRATEGIC_COORDINATION: str = f3548.Scope.StrategicCoordination.value
CONSTRAINT_MANAGEMENT: str = f3548.Scope.ConstraintManagement.value
CONSTRAINT_PROCESSING: str = f3548.Scope.ConstraintProcessing.value
CONFORMANCE_MONITORING_SA: str = f3548.Scope.ConformanceMonitoringForSituationalAwareness.value
AVAILABILITY_ARBITRATION: str = f3548.Scope.AvailabilityArbitration.value


class Permission(StrEnum):
    """dronecoop's own permissions (beside the standard's scopes)."""

    COP_READ = "dronecoop.cop.read"  # the common operational picture, live positions
    FLIGHTS_READ = "dronecoop.flights.read"
    FLIGHTS_PLAN = "dronecoop.flights.plan"
    FLIGHTS_FLY = "dronecoop.flights.fly"  # activate, end, report telemetry
    FLEET_READ = "dronecoop.fleet.read"
    FLEET_WRITE = "dronecoop.fleet.write"
    MRO_READ = "dronecoop.mro.read"
    MRO_WRITE = "dronecoop.mro.write"  # work orders, parts, sign-offs
    LOGS_INGEST = "dronecoop.logs.ingest"
    AUDIT_READ = "dronecoop.audit.read"
    PARTNERS_READ = "dronecoop.partners.read"
    PARTNERS_ADMIN = "dronecoop.partners.admin"  # keys, releases of one's own partner


class Role(StrEnum):
    OPERATOR = "operator"
    PLANNER = "planner"
    MAINTAINER = "maintainer"
    DEPOT_TECHNICIAN = "depot_technician"
    PARTNER_ADMIN = "partner_admin"
    OBSERVER = "observer"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    # Plans flights and publishes restricted areas; a USS acting for them holds the same.
    Role.PLANNER: frozenset(
        {
            STRATEGIC_COORDINATION,
            CONSTRAINT_MANAGEMENT,
            CONSTRAINT_PROCESSING,
            P.COP_READ,
            P.FLIGHTS_READ,
            P.FLIGHTS_PLAN,
            P.FLEET_READ,
        }
    ),
    # Flies them: activation, conformance (Nonconforming/Contingent), the live picture.
    Role.OPERATOR: frozenset(
        {
            STRATEGIC_COORDINATION,
            CONFORMANCE_MONITORING_SA,
            CONSTRAINT_PROCESSING,
            P.COP_READ,
            P.FLIGHTS_READ,
            P.FLIGHTS_FLY,
            P.FLEET_READ,
            P.LOGS_INGEST,
        }
    ),
    # Keeps its own partner's aircraft airworthy.
    Role.MAINTAINER: frozenset(
        {P.FLEET_READ, P.FLEET_WRITE, P.MRO_READ, P.MRO_WRITE, P.LOGS_INGEST}
    ),
    # Works at a depot on whatever aircraft a work order assigns it, any partner's.
    Role.DEPOT_TECHNICIAN: frozenset({P.FLEET_READ, P.MRO_READ, P.MRO_WRITE, P.LOGS_INGEST}),
    # Runs the partner's account: keys, releases, the audit log.
    Role.PARTNER_ADMIN: frozenset(
        {P.PARTNERS_READ, P.PARTNERS_ADMIN, P.AUDIT_READ, P.FLEET_READ, P.FLIGHTS_READ}
    ),
    # Watches: everything released to it, nothing it can change.
    Role.OBSERVER: frozenset({P.COP_READ, P.FLIGHTS_READ, P.FLEET_READ, P.MRO_READ}),
}


def roles_in(scopes: Iterable[str]) -> frozenset[Role]:
    """The roles named in a token's scopes (unknown role names are ignored)."""
    found: set[Role] = set()
    for scope in scopes:
        if scope.startswith(ROLE_SCOPE_PREFIX):
            try:
                found.add(Role(scope.removeprefix(ROLE_SCOPE_PREFIX)))
            except ValueError:
                continue
    return frozenset(found)


def permissions_of(scopes: Iterable[str]) -> frozenset[str]:
    """A caller's permissions: its scopes plus what each of its roles grants."""
    scopes = frozenset(scopes)
    granted: set[str] = set(scopes)
    for role in roles_in(scopes):
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def role_scope(role: Role) -> str:
    return f"{ROLE_SCOPE_PREFIX}{role.value}"
