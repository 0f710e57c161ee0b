"""Flights in SQLite or PostgreSQL (one row each; volumes and details as JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, text

from dronecoop.airspace.model import from_us, to_us
from dronecoop.flights.codec import volume_from_json, volume_json
from dronecoop.flights.model import Flight, FlightState
from dronecoop.planning.errors import PlanningError
from dronecoop.store.audit_sql import insert_pending
from dronecoop.store.engine import SqlRepository, write_transaction
from dronecoop.trust.audit import AuditEvent, digest_of


class StaleFlight(PlanningError):
    """Someone else changed the flight between our read and our write."""


_COLS = "id, partner, manager, state, priority, volumes, ovn, created_at_us, released_to, details"


def _row(flight: Flight) -> dict[str, Any]:
    return {
        "id": flight.id,
        "partner": flight.partner,
        "manager": flight.manager,
        "state": flight.state.value,
        "priority": flight.priority,
        "volumes": orjson.dumps([volume_json(v) for v in flight.volumes]).decode(),
        "ovn": flight.ovn,
        "created_at_us": to_us(flight.created_at),
        "released_to": orjson.dumps(sorted(flight.released_to)).decode(),
        "details": orjson.dumps(flight.details).decode(),
    }


def _flight(row: Any) -> Flight:
    return Flight(
        id=row[0],
        partner=row[1],
        manager=row[2],
        state=FlightState(row[3]),
        priority=int(row[4]),
        volumes=tuple(volume_from_json(v) for v in orjson.loads(row[5])),
        ovn=row[6],
        created_at=from_us(row[7]),
        released_to=frozenset(orjson.loads(row[8])),
        details=orjson.loads(row[9]),
    )


class SqlFlightStore(SqlRepository):
    def get(self, flight_id: str) -> Flight | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_COLS} FROM flights WHERE id = :id"),  # noqa: S608 - constant
                {"id": flight_id},
            ).first()
        return None if row is None else _flight(row)

    def get_many(self, ids: list[str]) -> dict[str, Flight]:
        if not ids:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM flights WHERE id IN :ids").bindparams(  # noqa: S608
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            ).all()
        return {row[0]: _flight(row) for row in rows}

    def list(self) -> list[Flight]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM flights ORDER BY created_at_us, id")  # noqa: S608
            ).all()
        return [_flight(row) for row in rows]

    def save(self, flight: Flight, previous: Flight | None, *, actor: str, action: str) -> None:
        """Insert or replace ``flight`` and put the change on the audit chain."""
        with write_transaction(self._engine, self._url) as conn:
            _write(conn, flight, previous)
            insert_pending(
                conn,
                AuditEvent(
                    partner=flight.partner,
                    actor=actor,
                    action=f"flights.{action}",
                    target_kind="flight",
                    target_id=flight.id,
                    before_digest=None if previous is None else digest_of(_row(previous)),
                    after_digest=digest_of(_row(flight)),
                    at=flight.created_at if previous is None else datetime.now(UTC),
                ),
            )


def _write(conn: Connection, flight: Flight, previous: Flight | None) -> None:
    values = _row(flight)
    if previous is None:
        names = ", ".join(f":{c.strip()}" for c in _COLS.split(","))
        conn.execute(text(f"INSERT INTO flights ({_COLS}) VALUES ({names})"), values)  # noqa: S608
    else:
        changed = conn.execute(
            text(
                "UPDATE flights SET state = :state, ovn = :ovn, volumes = :volumes, "
                "priority = :priority "
                "WHERE id = :id AND state = :previous_state AND ovn = :previous_ovn"
            ),
            {
                "state": values["state"],
                "ovn": values["ovn"],
                "volumes": values["volumes"],
                "priority": values["priority"],
                "id": values["id"],
                "previous_state": previous.state.value,
                "previous_ovn": previous.ovn,
            },
        )
        if changed.rowcount != 1:
            raise StaleFlight(f"flight {flight.id} changed meanwhile: read it again")
