"""Publishing and withdrawing a partner's restricted areas as F3548 constraints.

A zone is written to the DSS (``PUT /dss/v1/constraint_references/{id}``: this node's DSS
or a remote one, as the partner's USS), kept with its volumes, and every subscriber the
DSS names is notified (``POST /uss/v1/constraints``). Peers read its details at
``GET /uss/v1/constraints/{id}``; planners anywhere are then kept out of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dronecoop.airspace.model import ConstraintRef
from dronecoop.flights.dss_client import DssClient
from dronecoop.flights.peers import Notifier, constraint_body
from dronecoop.planning.errors import PlanningError
from dronecoop.store.zones_sql import SqlZoneStore
from dronecoop.zones.model import Zone, ZoneDraft


class ZoneNotFound(PlanningError):
    pass


class NotYourZone(PlanningError):
    pass


@dataclass
class ZoneService:
    dss_for: Callable[[str], DssClient]
    store: SqlZoneStore
    uss_base_url: str
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def publish(self, partner: str, actor: str, draft: ZoneDraft) -> Zone:
        dss = self.dss_for(partner)
        zone_id = str(uuid.uuid4())
        change = dss.put_constraint(zone_id, None, draft.volumes, self.uss_base_url)
        zone = Zone(
            id=zone_id,
            partner=partner,
            manager=dss.manager,
            name=draft.name,
            restriction=draft.restriction,
            volumes=draft.volumes,
            ovn=change.reference.ovn,
            created_at=self.clock(),
            source=draft.source,
        )
        try:
            self.store.add(zone, actor=actor)
        except Exception:
            dss.delete_constraint(zone_id, change.reference.ovn)  # never an orphan in the DSS
            raise
        if self.notifier is not None:
            body = constraint_body(change.reference, zone.volumes, zone.kind)
            self.notifier.constraint_changed(zone.id, change.subscribers, body)
        return zone

    def withdraw(self, partner: str, actor: str, zone_id: str) -> Zone:
        zone = self.store.get(zone_id)
        if zone is None:
            raise ZoneNotFound(f"zone {zone_id} not found")
        if zone.partner != partner:
            raise NotYourZone(f"zone {zone_id} belongs to {zone.partner}")
        if zone.withdrawn:
            return zone
        dss = self.dss_for(partner)
        ref = dss.get_constraint(zone.id)
        if ref is not None:  # else it expired from the DSS already
            change = dss.delete_constraint(zone.id, ref.ovn)
            if self.notifier is not None:
                self.notifier.constraint_changed(zone.id, change.subscribers, None)
        return self.store.withdraw(zone, actor=actor)

    def reference(self, zone: Zone) -> ConstraintRef:
        ref = self.dss_for(zone.partner).get_constraint(zone.id)
        if ref is None:
            raise ZoneNotFound(f"zone {zone.id} is no longer in the DSS")
        return ref

    def get(self, zone_id: str) -> Zone | None:
        return self.store.get(zone_id)

    def all_zones(self) -> list[Zone]:
        return self.store.list()
