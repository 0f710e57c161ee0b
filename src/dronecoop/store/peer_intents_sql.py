"""Other USSs' operational intents as their notifications told this node (SQL).

One row per intent: the latest version wins (a late, older notification never overwrites
a newer one); a deletion notification removes the row. Each change is audited under the
partner whose USS sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, text

from dronecoop.airspace.errors import PermissionDenied
from dronecoop.airspace.model import from_us, to_us
from dronecoop.flights.codec import volume_from_json, volume_json
from dronecoop.flights.peers import IntentDetails
from dronecoop.store.audit_sql import insert_pending
from dronecoop.store.engine import SqlRepository, write_transaction
from dronecoop.trust.audit import AuditEvent, digest_of

_COLS = "id, partner, manager, uss_base_url, version, state, ovn, priority, volumes, received_at_us"


@dataclass(frozen=True, slots=True)
class PeerIntent:
    """A peer's intent as last notified: enough to deconflict against it while current."""

    id: str
    partner: str  # the partner whose USS told us
    manager: str
    uss_base_url: str
    version: int
    state: str
    ovn: str
    priority: int
    volumes: tuple[Any, ...]
    received_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partner": self.partner,
            "manager": self.manager,
            "uss_base_url": self.uss_base_url,
            "version": self.version,
            "state": self.state,
            "priority": self.priority,
            "volumes": [volume_json(v) for v in self.volumes],
            "received_at": self.received_at.isoformat(),
        }


def _peer(row: Any) -> PeerIntent:
    return PeerIntent(
        id=row[0],
        partner=row[1],
        manager=row[2],
        uss_base_url=row[3],
        version=int(row[4]),
        state=row[5],
        ovn=row[6],
        priority=int(row[7]),
        volumes=tuple(volume_from_json(v) for v in orjson.loads(row[8])),
        received_at=from_us(row[9]),
    )


class SqlPeerIntents(SqlRepository):
    def get_many(self, ids: list[str]) -> dict[str, PeerIntent]:
        if not ids:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM peer_intents WHERE id IN :ids").bindparams(  # noqa: S608
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            ).all()
        return {row[0]: _peer(row) for row in rows}

    def list(self) -> list[PeerIntent]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLS} FROM peer_intents ORDER BY received_at_us, id")  # noqa: S608
            ).all()
        return [_peer(row) for row in rows]

    def record(
        self, partner: str, actor: str, entity_id: str, intent: IntentDetails | None
    ) -> bool:
        """Apply a notification; False when it was older than what we hold (ignored)."""
        now = datetime.now(UTC)
        with write_transaction(self._engine, self._url) as conn:
            current = conn.execute(
                text("SELECT version, ovn, partner, manager FROM peer_intents WHERE id = :id"),
                {"id": entity_id},
            ).first()
            if current is not None and (current[2] != partner or current[3] != actor):
                raise PermissionDenied(
                    f"intent {entity_id} was notified by {current[3]} of {current[2]}: "
                    "only that USS may change or end it"
                )
            if intent is None:
                if current is None:
                    return False
                conn.execute(text("DELETE FROM peer_intents WHERE id = :id"), {"id": entity_id})
                after = None
            else:
                if current is not None and int(current[0]) > intent.reference.version:
                    return False
                ref = intent.reference
                row = {
                    "id": entity_id,
                    "partner": partner,
                    "manager": ref.manager,
                    "uss_base_url": ref.uss_base_url,
                    "version": ref.version,
                    "state": ref.state.value,
                    "ovn": ref.ovn,
                    "priority": intent.priority,
                    "volumes": orjson.dumps([volume_json(v) for v in intent.volumes]).decode(),
                    "received_at_us": to_us(now),
                }
                conn.execute(text("DELETE FROM peer_intents WHERE id = :id"), {"id": entity_id})
                names = ", ".join(f":{c.strip()}" for c in _COLS.split(","))
                conn.execute(
                    text(f"INSERT INTO peer_intents ({_COLS}) VALUES ({names})"),  # noqa: S608
                    row,
                )
                after = digest_of(row)
            insert_pending(
                conn,
                AuditEvent(
                    partner=partner,
                    actor=actor,
                    action="peer_intent.deleted" if intent is None else "peer_intent.notified",
                    target_kind="peer_intent",
                    target_id=entity_id,
                    before_digest=None
                    if current is None
                    else digest_of({"version": current[0], "ovn": current[1]}),
                    after_digest=after,
                    at=now,
                ),
            )
        return True
