"""Partner keys registered at run time (``partner_keys``), each change on the audit chain."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dronecoop.airspace.model import from_us, to_us
from dronecoop.auth.tokens import load_public_key_pem
from dronecoop.store.audit_sql import insert_pending
from dronecoop.store.engine import SqlRepository, write_transaction
from dronecoop.trust.audit import AuditEvent, digest_of
from dronecoop.trust.errors import TrustError


class KeyConflict(TrustError):
    """The key id is already registered for that partner."""


class UnknownKey(TrustError):
    """No such active key."""


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    partner: str
    kid: str
    public_pem: str
    added_at: datetime
    added_by: str
    retired_at: datetime | None


@functools.lru_cache(maxsize=256)
def _parsed(pem: str) -> RSAPublicKey:
    return load_public_key_pem(pem.encode())


class SqlPartnerKeys(SqlRepository):
    def add(self, partner: str, kid: str, public_pem: str, *, by: str, at: datetime) -> None:
        """Register a public key; raises ValueError for a bad key, KeyConflict for a used kid."""
        load_public_key_pem(public_pem.encode())  # refuse what no token could verify against
        try:
            self._add(partner, kid, public_pem, by=by, at=at)
        except IntegrityError as exc:  # a concurrent registration of the same kid won
            raise KeyConflict(f"key id {kid!r} is already registered for {partner}") from exc

    def _add(self, partner: str, kid: str, public_pem: str, *, by: str, at: datetime) -> None:
        with write_transaction(self._engine, self._url) as conn:
            used = conn.execute(
                text("SELECT 1 FROM partner_keys WHERE partner = :p AND kid = :k"),
                {"p": partner, "k": kid},
            ).first()
            if used is not None:
                raise KeyConflict(f"key id {kid!r} is already registered for {partner}")
            conn.execute(
                text(
                    "INSERT INTO partner_keys (partner, kid, public_pem, added_at_us, added_by) "
                    "VALUES (:p, :k, :pem, :at, :by)"
                ),
                {"p": partner, "k": kid, "pem": public_pem, "at": to_us(at), "by": by},
            )
            insert_pending(conn, _event(partner, by, "add", kid, None, public_pem, at))

    def retire(self, partner: str, kid: str, *, by: str, at: datetime) -> None:
        with write_transaction(self._engine, self._url) as conn:
            row = conn.execute(
                text(
                    "SELECT public_pem FROM partner_keys "
                    "WHERE partner = :p AND kid = :k AND retired_at_us IS NULL"
                ),
                {"p": partner, "k": kid},
            ).first()
            if row is None:
                raise UnknownKey(f"{partner} has no active key {kid!r}")
            conn.execute(
                text("UPDATE partner_keys SET retired_at_us = :at WHERE partner = :p AND kid = :k"),
                {"p": partner, "k": kid, "at": to_us(at)},
            )
            insert_pending(conn, _event(partner, by, "retire", kid, row[0], None, at))

    def list(self, partner: str) -> list[RegisteredKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT partner, kid, public_pem, added_at_us, added_by, retired_at_us "
                    "FROM partner_keys WHERE partner = :p ORDER BY added_at_us, kid"
                ),
                {"p": partner},
            ).all()
        return [
            RegisteredKey(
                r[0], r[1], r[2], from_us(r[3]), r[4], None if r[5] is None else from_us(r[5])
            )
            for r in rows
        ]

    def active(self, partner: str) -> dict[str, RSAPublicKey]:
        """The partner's registered keys that are not retired, by key id."""
        return {k.kid: _parsed(k.public_pem) for k in self.list(partner) if k.retired_at is None}


def _event(
    partner: str, by: str, verb: str, kid: str, before: str | None, after: str | None, at: datetime
) -> AuditEvent:
    return AuditEvent(
        partner=partner,
        actor=by,
        action=f"partners.key.{verb}",
        target_kind="partner_key",
        target_id=f"{partner}/{kid}",
        before_digest=None if before is None else digest_of(before),
        after_digest=None if after is None else digest_of(after),
        at=at,
    )
