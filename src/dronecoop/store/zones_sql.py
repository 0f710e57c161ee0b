"""Zones in SQLite or PostgreSQL (one row each; volumes and source as JSON), audited."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import bindparam, text

from dronecoop.airspace.model import from_us, to_us
from dronecoop.flights.codec import volume_from_json, volume_json
from dronecoop.store.audit_sql import audit_change
from dronecoop.store.engine import SqlRepository, write_transaction
from dronecoop.zones.model import Restriction, Zone

_COLS = "id, partner, manager, name, restriction, volumes, ovn, created_at_us, withdrawn, source"


def _row(zone: Zone) -> dict[str, Any]:
    return {
        "id": zone.id,
        "partner": zone.partner,
        "manager": zone.manager,
        "name": zone.name,
        "restriction": zone.restriction.value,
        "volumes": orjson.dumps([volume_json(v) for v in zone.volumes]).decode(),
        "ovn": zone.ovn,
        "created_at_us": to_us(zone.created_at),
        "withdrawn": zone.withdrawn,
        "source": orjson.dumps(zone.source).decode(),
    }


def _zone(row: Any) -> Zone:
    return Zone(
        id=row[0],
        partner=row[1],
        manager=row[2],
        name=row[3],
        restriction=Restriction(row[4]),
        volumes=tuple(volume_from_json(v) for v in orjson.loads(row[5])),
        ovn=row[6],
        created_at=from_us(row[7]),
        withdrawn=bool(row[8]),
        source=orjson.loads(row[9]),
    )


class SqlZoneStore(SqlRepository):
    def get(self, zone_id: str) -> Zone | None:
        return self.get_many([zone_id]).get(zone_id)

    def get_many(self, ids: list[str]) -> dict[str, Zone]:
        if not ids:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM zones WHERE id IN :ids").bindparams(  # noqa: S608
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            ).all()
        return {row[0]: _zone(row) for row in rows}

    def list(self) -> list[Zone]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM zones ORDER BY created_at_us, id")  # noqa: S608
            ).all()
        return [_zone(row) for row in rows]

    def add(self, zone: Zone, *, actor: str) -> None:
        values = _row(zone)
        names = ", ".join(f":{c.strip()}" for c in _COLS.split(","))
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(text(f"INSERT INTO zones ({_COLS}) VALUES ({names})"), values)  # noqa: S608
            self._audit(conn, zone, actor, "zones.publish", None, values)

    def withdraw(self, zone: Zone, *, actor: str) -> Zone:
        withdrawn = replace(zone, withdrawn=True)
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(
                text("UPDATE zones SET withdrawn = :w WHERE id = :id"), {"w": True, "id": zone.id}
            )
            self._audit(conn, zone, actor, "zones.withdraw", _row(zone), _row(withdrawn))
        return withdrawn

    @staticmethod
    def _audit(
        conn: Any,
        zone: Zone,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        audit_change(
            conn, partner=zone.partner, actor=actor, action=action, target_kind="zone",
            target_id=zone.id, before=before, after=after,
        )  # fmt: skip
