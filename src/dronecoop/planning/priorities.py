"""Which F3548 priority a flight gets (pure): by mission type, capped per partner.

The allies agree in the partners file (``[priorities]``) on the priority each mission
type carries (a medevac above a training sortie) and on the highest priority each
partner may claim; a planner may still ask for a priority, up to that cap::

    [priorities]
    default = 0
    mission_types = { medevac = 70, "search and rescue" = 80, recce = 20 }
    partner_max = { rok-army = 80, us-army = 80 }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dronecoop.planning.errors import PlanningError

PRIORITY_MIN, PRIORITY_MAX = 0, 100  # the F3548 priority levels this node accepts


@dataclass(frozen=True, slots=True)
class PriorityPolicy:
    default: int = 0
    mission_types: Mapping[str, int] = field(default_factory=dict)
    partner_max: Mapping[str, int] = field(default_factory=dict)

    def priority_for(self, partner: str, mission: str | None, requested: int | None) -> int:
        """``requested`` if given, else the mission type's, else the default; refused above
        the partner's cap or outside the F3548 levels."""
        if requested is not None:
            priority = requested
        elif mission is not None and mission.strip().lower() in self.mission_types:
            priority = self.mission_types[mission.strip().lower()]
        else:
            priority = self.default
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise PlanningError(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
        cap = self.partner_max.get(partner, PRIORITY_MAX)
        if priority > cap:
            raise PlanningError(
                f"priority {priority} is above {partner}'s agreed maximum of {cap} "
                "([priorities] partner_max in the partners file)"
            )
        return priority


def parse_priorities(table: Any) -> PriorityPolicy:
    """The ``[priorities]`` table of a partners file."""
    if table is None:
        return PriorityPolicy()
    if not isinstance(table, Mapping):
        raise PlanningError("[priorities] must be a table")
    unknown = set(table) - {"default", "mission_types", "partner_max"}
    if unknown:
        raise PlanningError(f"[priorities]: unknown keys {sorted(unknown)}")
    return PriorityPolicy(
        default=_level(table.get("default", 0), "default"),
        mission_types={
            str(k).strip().lower(): _level(v, f"mission_types.{k}")
            for k, v in _table(table, "mission_types").items()
        },
        partner_max={
            str(k): _level(v, f"partner_max.{k}") for k, v in _table(table, "partner_max").items()
        },
    )


def _table(table: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = table.get(name, {})
    if not isinstance(value, Mapping):
        raise PlanningError(f"[priorities] {name} must be a table")
    return value


def _level(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanningError(f"[priorities] {where} must be an integer")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise PlanningError(
            f"[priorities] {where} must be between {PRIORITY_MIN} and {PRIORITY_MAX}"
        )
    return value
