"""Who else may see a record: the releasability policy (default deny).

Each record kind has a release rule, and a kind may give some of its fields a stricter
one. The owner always sees its own records whole. A record that is not releasable to a
caller must be indistinguishable from one that does not exist: adapters answer 404, not
403, and leave it out of queries, feeds and exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dronecoop.trust.errors import PartnersFileError
from dronecoop.trust.partners import PartnerID


class Release(StrEnum):
    OWNER_ONLY = "owner_only"
    NAMED_PARTNERS = "named_partners"  # the owner, the partners it names, depots assigned
    ASSIGNED_DEPOT = "assigned_depot"  # the owner and the depots a live work order assigns
    ALL_PARTNERS = "all_partners"


class RecordKind(StrEnum):
    OPERATIONAL_INTENT_REFERENCE = "operational_intent_reference"  # DSS: shared by design
    CONSTRAINT_REFERENCE = "constraint_reference"
    SUBSCRIPTION = "subscription"
    LIVE_POSITION = "live_position"
    FLIGHT = "flight"  # a partner's flight plan and its details
    AIRCRAFT = "aircraft"
    FLIGHT_LOG = "flight_log"
    MAINTENANCE_RECORD = "maintenance_record"
    WORK_ORDER = "work_order"
    AUDIT_ENTRY = "audit_entry"
    PARTNER_KEY = "partner_key"  # keys a partner registered for its tokens


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What the policy needs to know of a record: its kind, owner and named partners."""

    kind: str
    owner: PartnerID
    released_to: frozenset[PartnerID] = frozenset()
    assigned_to: frozenset[PartnerID] = frozenset()  # depots with an open assignment


@dataclass(frozen=True, slots=True)
class ReleasabilityPolicy:
    rules: Mapping[str, Release]
    field_rules: Mapping[str, Mapping[str, Release]] = field(default_factory=dict)

    def rule(self, kind: str) -> Release:
        return self.rules.get(kind, Release.OWNER_ONLY)  # default deny

    def visible(self, viewer: PartnerID, meta: RecordMeta) -> bool:
        """Whether ``viewer`` may know the record exists."""
        return _allows(self.rule(meta.kind), viewer, meta)

    def redact(
        self, viewer: PartnerID, meta: RecordMeta, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The fields of a visible ``record`` that ``viewer`` may read."""
        hidden = {
            name
            for name, rule in self.field_rules.get(meta.kind, {}).items()
            if not _allows(rule, viewer, meta)
        }
        return {k: v for k, v in record.items() if k not in hidden}

    def audience(self, meta: RecordMeta, partners: list[PartnerID]) -> list[PartnerID]:
        """Which of ``partners`` may see the record (the admin's "who sees this")."""
        return [p for p in partners if self.visible(p, meta)]


def _allows(rule: Release, viewer: PartnerID, meta: RecordMeta) -> bool:
    if viewer == meta.owner or rule is Release.ALL_PARTNERS:
        return True
    if rule is Release.NAMED_PARTNERS:  # an open assignment names the depot too, for its time
        return viewer in meta.released_to or viewer in meta.assigned_to
    if rule is Release.ASSIGNED_DEPOT:
        return viewer in meta.assigned_to
    return False


K = RecordKind
# The DSS's own records: the standard decides who sees them (all USSs; OVNs masked for
# non-managers, subscriptions manager-only), so a partners file may not narrow them.
FIXED_BY_STANDARD = frozenset(
    {K.OPERATIONAL_INTENT_REFERENCE, K.CONSTRAINT_REFERENCE, K.SUBSCRIPTION}
)
# The trust layer's own records: what vouches for a partner, and what it did.
FIXED_BY_TRUST = frozenset({K.PARTNER_KEY, K.AUDIT_ENTRY})
DEFAULT_POLICY = ReleasabilityPolicy(
    rules={
        # Sharing the sky needs everyone to see where everyone flies.
        K.OPERATIONAL_INTENT_REFERENCE: Release.ALL_PARTNERS,
        K.CONSTRAINT_REFERENCE: Release.ALL_PARTNERS,
        K.SUBSCRIPTION: Release.ALL_PARTNERS,  # the DSS tells every USS who to notify
        K.LIVE_POSITION: Release.ALL_PARTNERS,
        K.FLIGHT: Release.ALL_PARTNERS,  # its volumes; the details are named below
        K.AIRCRAFT: Release.NAMED_PARTNERS,
        K.FLIGHT_LOG: Release.ASSIGNED_DEPOT,
        K.MAINTENANCE_RECORD: Release.ASSIGNED_DEPOT,
        K.WORK_ORDER: Release.ASSIGNED_DEPOT,
        K.AUDIT_ENTRY: Release.OWNER_ONLY,
        K.PARTNER_KEY: Release.OWNER_ONLY,
    },
    field_rules={
        K.FLIGHT: {
            "mission": Release.NAMED_PARTNERS,
            "aircraft": Release.NAMED_PARTNERS,
            "payload": Release.NAMED_PARTNERS,
            "crew": Release.NAMED_PARTNERS,
            "notes": Release.OWNER_ONLY,
        },
    },
)


def parse_policy_overrides(
    table: Mapping[str, object], base: ReleasabilityPolicy = DEFAULT_POLICY
) -> ReleasabilityPolicy:
    """``base`` with the rules of a partners file's ``[releasability]`` table applied."""
    rules: dict[str, Release] = dict(base.rules)
    fields: dict[str, dict[str, Release]] = {k: dict(v) for k, v in base.field_rules.items()}
    for kind, value in table.items():
        if kind not in set(RecordKind):
            raise PartnersFileError(f"releasability: unknown record kind {kind!r}")
        if kind in FIXED_BY_STANDARD:
            raise PartnersFileError(
                f"releasability.{kind} is fixed by ASTM F3548-21: every USS sharing the "
                "airspace must see every reference, or deconfliction breaks"
            )
        if kind in FIXED_BY_TRUST:
            raise PartnersFileError(
                f"releasability.{kind} is fixed: a partner's {kind.replace('_', ' ')}s are "
                "its own alone"
            )
        if isinstance(value, str):
            rules[kind] = _release(value, kind)
        elif isinstance(value, dict):
            if "record" in value:
                rules[kind] = _release(value["record"], kind)
            for name, rule in value.get("fields", {}).items():
                fields.setdefault(kind, {})[name] = _release(rule, f"{kind}.{name}")
        else:
            raise PartnersFileError(f"releasability.{kind} must be a string or a table")
    return ReleasabilityPolicy(rules, fields)


def _release(value: object, where: str) -> Release:
    try:
        return Release(str(value))
    except ValueError as exc:
        choices = ", ".join(r.value for r in Release)
        raise PartnersFileError(
            f"releasability.{where}: {value!r} is not one of {choices}"
        ) from exc
