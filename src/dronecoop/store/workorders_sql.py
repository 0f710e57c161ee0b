"""Work orders and depot inventories in SQLite or PostgreSQL (audited; optimistic writes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, text

from dronecoop.airspace.model import from_us, to_us
from dronecoop.mro.workorders import PartDrawn, TaskCard, WorkOrder, WorkOrderError, WorkOrderStatus
from dronecoop.store.audit_sql import audit_change
from dronecoop.store.engine import SqlRepository, write_transaction

_COLS = (
    "id, aircraft_id, owner, depot, status, cards, parts, opened_by, opened_at_us, "
    "closed_at_us, version"
)


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _order(row: Any) -> tuple[WorkOrder, int]:
    cards = tuple(
        TaskCard(
            title=c["title"],
            critical=c["critical"],
            task_code=c["task_code"],
            defect_id=c["defect_id"],
            signed_by=c["signed_by"],
            signed_at=_dt(c["signed_at"]),
            inspected_by=c["inspected_by"],
            inspected_at=_dt(c["inspected_at"]),
        )
        for c in orjson.loads(row[5])
    )
    parts = tuple(
        PartDrawn(p["part_number"], p["quantity"], p["drawn_by"], datetime.fromisoformat(p["at"]))
        for p in orjson.loads(row[6])
    )
    order = WorkOrder(
        id=row[0],
        aircraft_id=row[1],
        owner=row[2],
        depot=row[3],
        status=WorkOrderStatus(row[4]),
        cards=cards,
        parts=parts,
        opened_by=row[7],
        opened_at=from_us(row[8]),
        closed_at=None if row[9] is None else from_us(row[9]),
    )
    return order, int(row[10])


def _row(order: WorkOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "aircraft_id": order.aircraft_id,
        "owner": order.owner,
        "depot": order.depot,
        "status": order.status.value,
        "cards": orjson.dumps([asdict(c) for c in order.cards]).decode(),
        "parts": orjson.dumps([asdict(p) for p in order.parts]).decode(),
        "opened_by": order.opened_by,
        "opened_at_us": to_us(order.opened_at or datetime.now(UTC)),
        "closed_at_us": None if order.closed_at is None else to_us(order.closed_at),
    }


class SqlWorkOrders(SqlRepository):
    def add(self, order: WorkOrder, *, actor: str) -> None:
        row = _row(order) | {"version": 1}
        names = ", ".join(f":{c.strip()}" for c in _COLS.split(","))
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(text(f"INSERT INTO work_orders ({_COLS}) VALUES ({names})"), row)
            _audit(conn, order.owner, actor, "mro.workorder.open", order.id, row)

    def get(self, order_id: str) -> tuple[WorkOrder, int] | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_COLS} FROM work_orders WHERE id = :id"), {"id": order_id}
            ).first()
        return None if row is None else _order(row)

    def all(self) -> list[WorkOrder]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM work_orders ORDER BY opened_at_us")
            ).all()
        return [_order(r)[0] for r in rows]

    def open_depots(self, aircraft_id: str) -> frozenset[str]:
        """Partners with an open work order on the aircraft (other than its owner)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT DISTINCT depot FROM work_orders WHERE aircraft_id = :a "
                    "AND status = 'open' AND depot <> owner"
                ),
                {"a": aircraft_id},
            ).all()
        return frozenset(r[0] for r in rows)

    def save(
        self,
        order: WorkOrder,
        version: int,
        *,
        actor: str,
        partner: str,
        action: str,
        draw: PartDrawn | None = None,
        also: Callable[[Connection], None] | None = None,
    ) -> None:
        """Write ``order`` if nobody changed it since ``version``; with ``draw``, take the
        part from ``partner``'s inventory in the same transaction (or fail); ``also``
        writes what goes with it (a completion's records) in that transaction too."""
        row = _row(order)
        with write_transaction(self._engine, self._url) as conn:
            if draw is not None:
                taken = conn.execute(
                    text(
                        "UPDATE inventory SET quantity = quantity - :q WHERE partner = :p "
                        "AND part_number = :n AND quantity >= :q"
                    ),
                    {"q": draw.quantity, "p": partner, "n": draw.part_number},
                ).rowcount
                if taken != 1:
                    raise WorkOrderError(
                        f"{partner}'s depot does not hold {draw.quantity} of {draw.part_number}"
                    )
            changed = conn.execute(
                text(
                    "UPDATE work_orders SET status = :status, cards = :cards, parts = :parts, "
                    "closed_at_us = :closed_at_us, version = version + 1 "
                    "WHERE id = :id AND version = :version"
                ),
                row | {"version": version},
            ).rowcount
            if changed != 1:
                raise WorkOrderError(f"work order {order.id} changed meanwhile: read it again")
            _audit(conn, partner, actor, f"mro.workorder.{action}", order.id, row)
            if also is not None:
                also(conn)

    # -- inventory
    def stock(
        self, partner: str, part_number: str, description: str, quantity: int, *, actor: str
    ) -> int:
        with write_transaction(self._engine, self._url) as conn:
            changed = conn.execute(
                text(
                    "UPDATE inventory SET quantity = quantity + :q, description = :d "
                    "WHERE partner = :p AND part_number = :n"
                ),
                {"q": quantity, "d": description, "p": partner, "n": part_number},
            ).rowcount
            if not changed:
                conn.execute(
                    text(
                        "INSERT INTO inventory (partner, part_number, description, quantity) "
                        "VALUES (:p, :n, :d, :q)"
                    ),
                    {"q": quantity, "d": description, "p": partner, "n": part_number},
                )
            on_hand = conn.execute(
                text("SELECT quantity FROM inventory WHERE partner = :p AND part_number = :n"),
                {"p": partner, "n": part_number},
            ).scalar_one()
            _audit(conn, partner, actor, "mro.inventory.stock", part_number, {"q": quantity})
        return int(on_hand)

    def inventory(self, partner: str) -> list[tuple[str, str, int]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT part_number, description, quantity FROM inventory "
                    "WHERE partner = :p ORDER BY part_number"
                ),
                {"p": partner},
            ).all()
        return [(r[0], r[1], int(r[2])) for r in rows]


def _audit(
    conn: Connection, partner: str, actor: str, action: str, target: str, row: dict[str, Any]
) -> None:
    kind = "work_order" if "workorder" in action else "inventory"
    audit_change(
        conn, partner=partner, actor=actor, action=action, target_kind=kind, target_id=target,
        after=row,
    )  # fmt: skip
