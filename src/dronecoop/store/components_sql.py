"""Components and their installations in SQLite or PostgreSQL (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from dronecoop.airspace.model import from_us, to_us
from dronecoop.fleet.components import Component, Installation
from dronecoop.planning.errors import PlanningError
from dronecoop.store.audit_sql import audit_change
from dronecoop.store.engine import SqlRepository, write_transaction

_COMPONENT = (
    "id, partner, part_number, serial, description, kind, life_hours, life_cycles, "
    "tsn_hours, tsn_cycles"
)
_INSTALL = (
    "component_id, aircraft_id, position, parent_id, installed_at_us, hours_at_install, "
    "cycles_at_install, removed_at_us, hours_at_removal, cycles_at_removal"
)


class ComponentError(PlanningError):
    """A component step the registry does not allow (duplicate, already fitted ...)."""


def _component(r: Any) -> Component:
    return Component(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], float(r[8]), int(r[9]))


def _installation(r: Any) -> Installation:
    return Installation(
        r[0], r[1], r[2], r[3], from_us(r[4]), float(r[5]), int(r[6]),
        None if r[7] is None else from_us(r[7]), r[8], r[9],
    )  # fmt: skip


class SqlComponents(SqlRepository):
    def add(self, component: Component, *, actor: str) -> None:
        row = {name.strip(): getattr(component, name.strip()) for name in _COMPONENT.split(",")}
        names = ", ".join(f":{c.strip()}" for c in _COMPONENT.split(","))
        try:
            with write_transaction(self._engine, self._url) as conn:
                conn.execute(text(f"INSERT INTO components ({_COMPONENT}) VALUES ({names})"), row)
                _audit(conn, component.partner, actor, "fleet.component.add", component.id, row)
        except IntegrityError as exc:
            raise ComponentError(
                f"{component.partner} already has {component.part_number} s/n {component.serial}"
            ) from exc

    def get(self, component_id: str) -> Component | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_COMPONENT} FROM components WHERE id = :id"), {"id": component_id}
            ).first()
        return None if row is None else _component(row)

    def installations(
        self, *, aircraft_id: str | None = None, component_id: str | None = None
    ) -> list[Installation]:
        where, params = [], {}
        if aircraft_id is not None:
            where.append("aircraft_id = :a")
            params["a"] = aircraft_id
        if component_id is not None:
            where.append("component_id = :c")
            params["c"] = component_id
        sql = f"SELECT {_INSTALL} FROM installations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY installed_at_us, id"), params).all()
        return [_installation(r) for r in rows]

    def install(self, partner: str, spell: Installation, *, actor: str) -> None:
        with write_transaction(self._engine, self._url) as conn:
            fitted = conn.execute(
                text(
                    "SELECT aircraft_id FROM installations WHERE component_id = :c "
                    "AND removed_at_us IS NULL"
                ),
                {"c": spell.component_id},
            ).first()
            if fitted is not None:
                raise ComponentError(
                    f"component {spell.component_id} is fitted to aircraft {fitted[0]}: "
                    "remove it first"
                )
            row = {
                "component_id": spell.component_id,
                "aircraft_id": spell.aircraft_id,
                "position": spell.position,
                "parent_id": spell.parent_id,
                "installed_at_us": to_us(spell.installed_at),
                "hours_at_install": spell.hours_at_install,
                "cycles_at_install": spell.cycles_at_install,
            }
            conn.execute(
                text(
                    "INSERT INTO installations (component_id, aircraft_id, position, parent_id, "
                    "installed_at_us, hours_at_install, cycles_at_install) VALUES "
                    "(:component_id, :aircraft_id, :position, :parent_id, :installed_at_us, "
                    ":hours_at_install, :cycles_at_install)"
                ),
                row,
            )
            _audit(conn, partner, actor, "fleet.component.install", spell.component_id, row)

    def remove(
        self,
        partner: str,
        component_id: str,
        at: datetime,
        hours: float,
        cycles: int,
        *,
        actor: str,
    ) -> str:
        """Close the component's open installation; returns the aircraft it came off."""
        with write_transaction(self._engine, self._url) as conn:
            fitted = conn.execute(
                text(
                    "SELECT id, aircraft_id FROM installations WHERE component_id = :c "
                    "AND removed_at_us IS NULL"
                ),
                {"c": component_id},
            ).first()
            if fitted is None:
                raise ComponentError(f"component {component_id} is not fitted to any aircraft")
            row = {"id": fitted[0], "t": to_us(at), "h": hours, "n": cycles}
            conn.execute(
                text(
                    "UPDATE installations SET removed_at_us = :t, hours_at_removal = :h, "
                    "cycles_at_removal = :n WHERE id = :id"
                ),
                row,
            )
            _audit(conn, partner, actor, "fleet.component.remove", component_id, row)
        return str(fitted[1])


def _audit(
    conn: Connection, partner: str, actor: str, action: str, target: str, row: dict[str, Any]
) -> None:
    audit_change(
        conn, partner=partner, actor=actor, action=action, target_kind="component",
        target_id=target, after=row,
    )  # fmt: skip
