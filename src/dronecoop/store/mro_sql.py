"""Maintenance records in SQLite or PostgreSQL: program tasks, tasks done, defects (audited)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from dronecoop.airspace.model import from_us, to_us
from dronecoop.mro.due import Done, Task
from dronecoop.planning.errors import PlanningError
from dronecoop.store.audit_sql import audit_change
from dronecoop.store.engine import SqlRepository, write_transaction


class DuplicateTask(PlanningError):
    pass


@dataclass(frozen=True, slots=True)
class Defect:
    id: str
    aircraft_id: str
    partner: str
    title: str
    critical: bool
    source: str
    opened_at: datetime
    closed_at: datetime | None = None
    deferred_until: datetime | None = None  # may fly with it until then (MEL-style) ...
    deferred_hours_limit: float | None = None  # ... or until the aircraft reaches these hours
    deferral_reason: str | None = None

    def deferred_at(self, now: datetime, aircraft_hours: float) -> bool:
        """Whether a valid deferral lets the aircraft fly with this defect now."""
        if self.deferred_until is None and self.deferred_hours_limit is None:
            return False
        in_time = self.deferred_until is None or now <= self.deferred_until
        in_hours = self.deferred_hours_limit is None or aircraft_hours <= self.deferred_hours_limit
        return in_time and in_hours


class SqlMroStore(SqlRepository):
    def add_task(self, partner: str, model: str, task: Task, *, actor: str) -> None:
        row = {
            "partner": partner,
            "model": model,
            "code": task.code,
            "title": task.title,
            "hours": task.hours,
            "cycles": task.cycles,
            "days": task.days,
            "tolerance_pct": task.tolerance_pct,
            "critical": task.critical,
        }
        try:
            with write_transaction(self._engine, self._url) as conn:
                conn.execute(
                    text(
                        "INSERT INTO maintenance_tasks (partner, model, code, title, hours, "
                        "cycles, days, tolerance_pct, critical) VALUES (:partner, :model, "
                        ":code, :title, :hours, :cycles, :days, :tolerance_pct, :critical)"
                    ),
                    row,
                )
                _audit(conn, partner, actor, "mro.task.add", f"{model}/{task.code}", row)
        except IntegrityError as exc:
            raise DuplicateTask(f"{model} already has a task {task.code}") from exc

    def tasks(self, partner: str | None = None) -> list[tuple[str, str, Task]]:
        """(partner, model, task) for every program task (of ``partner`` if given)."""
        sql = (
            "SELECT partner, model, code, title, hours, cycles, days, tolerance_pct, critical "
            "FROM maintenance_tasks"
        )
        params: dict[str, Any] = {}
        if partner is not None:
            sql += " WHERE partner = :p"
            params["p"] = partner
        with self._engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY partner, model, code"), params).all()
        return [
            (r[0], r[1], Task(r[2], r[3], r[4], r[5], r[6], float(r[7]), bool(r[8]))) for r in rows
        ]

    @contextlib.contextmanager
    def _writing(self, conn: Connection | None) -> Iterator[Connection]:
        """A write transaction of its own, or the caller's (one that writes more with it)."""
        if conn is not None:
            yield conn
            return
        with write_transaction(self._engine, self._url) as own:
            yield own

    def record_done(
        self,
        partner: str,
        aircraft_id: str,
        done: Done,
        *,
        actor: str,
        conn: Connection | None = None,
    ) -> str:
        row = {
            "id": str(uuid.uuid4()),
            "aircraft_id": aircraft_id,
            "task_code": done.task_code,
            "at_us": to_us(done.at),
            "hours": done.hours,
            "cycles": done.cycles,
            "done_by": actor,
            "partner": partner,
        }
        with self._writing(conn) as conn:
            conn.execute(
                text(
                    "INSERT INTO maintenance_done (id, aircraft_id, task_code, at_us, hours, "
                    "cycles, done_by, partner) VALUES (:id, :aircraft_id, :task_code, :at_us, "
                    ":hours, :cycles, :done_by, :partner)"
                ),
                row,
            )
            _audit(conn, partner, actor, "mro.task.done", aircraft_id, row)
        return str(row["id"])

    def done(self, aircraft_id: str) -> list[Done]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT task_code, at_us, hours, cycles FROM maintenance_done "
                    "WHERE aircraft_id = :a ORDER BY at_us"
                ),
                {"a": aircraft_id},
            ).all()
        return [Done(r[0], from_us(r[1]), float(r[2]), int(r[3])) for r in rows]

    def open_defect(
        self, partner: str, aircraft_id: str, title: str, critical: bool, source: str, *, actor: str
    ) -> Defect:
        defect = Defect(
            str(uuid.uuid4()), aircraft_id, partner, title, critical, source, datetime.now(UTC)
        )
        row = {
            "id": defect.id,
            "aircraft_id": aircraft_id,
            "partner": partner,
            "title": title,
            "critical": critical,
            "source": source,
            "opened_at_us": to_us(defect.opened_at),
        }
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(
                text(
                    "INSERT INTO defects (id, aircraft_id, partner, title, critical, source, "
                    "opened_at_us) VALUES (:id, :aircraft_id, :partner, :title, :critical, "
                    ":source, :opened_at_us)"
                ),
                row,
            )
            _audit(conn, partner, actor, "mro.defect.open", defect.id, row)
        return defect

    def close_defect(
        self,
        partner: str,
        defect_id: str,
        *,
        actor: str,
        aircraft_id: str | None = None,
        conn: Connection | None = None,
    ) -> bool:
        now = datetime.now(UTC)
        with self._writing(conn) as conn:
            sql = (
                "UPDATE defects SET closed_at_us = :t WHERE id = :id AND partner = :p "
                "AND closed_at_us IS NULL"
            )
            if aircraft_id is not None:
                sql += " AND aircraft_id = :a"
            changed = conn.execute(
                text(sql),
                {"t": to_us(now), "id": defect_id, "p": partner, "a": aircraft_id},
            ).rowcount
            if changed:
                _audit(conn, partner, actor, "mro.defect.close", defect_id, {"closed": to_us(now)})
        return bool(changed)

    def defects(self, aircraft_id: str, *, open_only: bool = True) -> list[Defect]:
        sql = (
            "SELECT id, aircraft_id, partner, title, critical, source, opened_at_us, "
            "closed_at_us, deferred_until_us, deferred_hours_limit, deferral_reason "
            "FROM defects WHERE aircraft_id = :a"
        )
        if open_only:
            sql += " AND closed_at_us IS NULL"
        with self._engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY opened_at_us"), {"a": aircraft_id}).all()
        return [
            Defect(
                r[0],
                r[1],
                r[2],
                r[3],
                bool(r[4]),
                r[5],
                from_us(r[6]),
                None if r[7] is None else from_us(r[7]),
                None if r[8] is None else from_us(r[8]),
                None if r[9] is None else float(r[9]),
                r[10],
            )
            for r in rows
        ]

    def defer(
        self,
        partner: str,
        defect_id: str,
        until: datetime | None,
        hours_limit: float | None,
        reason: str,
        *,
        actor: str,
        aircraft_id: str,
    ) -> bool:
        row = {
            "a": aircraft_id,
            "u": None if until is None else to_us(until),
            "h": hours_limit,
            "r": reason[:255],
            "id": defect_id,
            "p": partner,
        }
        with write_transaction(self._engine, self._url) as conn:
            changed = conn.execute(
                text(
                    "UPDATE defects SET deferred_until_us = :u, deferred_hours_limit = :h, "
                    "deferral_reason = :r WHERE id = :id AND partner = :p "
                    "AND aircraft_id = :a AND closed_at_us IS NULL"
                ),
                row,
            ).rowcount
            if changed:
                _audit(conn, partner, actor, "mro.defect.defer", defect_id, row)
        return bool(changed)


class SqlBaselines(SqlRepository):
    """Parameter baselines per partner and model."""

    def put(
        self, partner: str, model: str, name: str, parameters: dict[str, float], source: str,
        *, actor: str,
    ) -> None:  # fmt: skip
        row = {
            "partner": partner,
            "model": model,
            "name": name,
            "parameters": orjson.dumps(parameters).decode(),
            "source": source[:255],
        }
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(
                text("DELETE FROM param_baselines WHERE partner = :partner AND model = :model "
                     "AND name = :name"),
                row,
            )  # fmt: skip
            conn.execute(
                text(
                    "INSERT INTO param_baselines (partner, model, name, parameters, source) "
                    "VALUES (:partner, :model, :name, :parameters, :source)"
                ),
                row,
            )
            _audit(conn, partner, actor, "mro.baseline.put", f"{model}/{name}", row)

    def get(self, partner: str, model: str, name: str) -> dict[str, float] | None:
        with self._engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT parameters FROM param_baselines WHERE partner = :p AND model = :m "
                    "AND name = :n"
                ),
                {"p": partner, "m": model, "n": name},
            ).first()
        return None if found is None else dict(orjson.loads(found[0]))


def _audit(
    conn: Connection, partner: str, actor: str, action: str, target: str, row: dict[str, Any]
) -> None:
    audit_change(
        conn, partner=partner, actor=actor, action=action,
        target_kind=action.split(".")[1], target_id=target, after=row,
    )  # fmt: skip
