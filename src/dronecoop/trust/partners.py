"""Partners: the allied organisations that share a node, each owning what it creates.

A partner is named by a short id (``rok-army``); the issuers of its tokens and the keys
those tokens are signed with belong to it alone, so a token's ``iss`` decides its
partner and its signature must verify with that partner's keys. The partners file is
TOML::

    [partners.rok-army]
    name = "ROK Army 1st UAV unit"
    issuers = ["https://auth.rok.example"]
    public_key_files = ["keys/rok-army.pem"]     # relative to the file
    jwks_urls = []
    depot = true                                  # runs a depot others may be assigned to

Without a file a node has one partner, ``local``, trusting the ``DRONECOOP_AUTH_*`` keys
for any issuer (a single organisation's node; the InterUSS test harness).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NewType

from dronecoop.trust.errors import PartnersFileError

PartnerID = NewType("PartnerID", str)

LOCAL_PARTNER = PartnerID("local")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Partner:
    id: PartnerID
    name: str
    issuers: tuple[str, ...] = ()  # empty: any issuer (only the implicit local partner)
    public_key_files: tuple[Path, ...] = ()
    jwks_urls: tuple[str, ...] = ()
    depot: bool = False


@dataclass(frozen=True, slots=True)
class Partners:
    """Every partner of this node, by id; at most one partner claims an issuer."""

    by_id: Mapping[PartnerID, Partner] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: dict[str, PartnerID] = {}
        for partner in self.by_id.values():
            for issuer in partner.issuers:
                if issuer in seen:
                    raise PartnersFileError(
                        f"issuer {issuer!r} is claimed by both {seen[issuer]} and {partner.id}"
                    )
                seen[issuer] = partner.id

    def __iter__(self) -> Iterator[Partner]:
        return iter(sorted(self.by_id.values(), key=lambda p: p.id))

    def get(self, partner_id: str) -> Partner | None:
        return self.by_id.get(PartnerID(partner_id))

    def ids(self) -> list[PartnerID]:
        return sorted(self.by_id)


def parse_partners(text: str, base_dir: Path) -> Partners:
    """Partners from the TOML text of a partners file (key paths relative to ``base_dir``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PartnersFileError(f"partners file is not valid TOML: {exc}") from exc
    table = document.get("partners")
    if not isinstance(table, dict) or not table:
        raise PartnersFileError("partners file has no [partners.<id>] tables")
    partners: dict[PartnerID, Partner] = {}
    for raw_id, entry in table.items():
        if not _ID.fullmatch(raw_id):
            raise PartnersFileError(
                f"partner id {raw_id!r} must be lower-case letters, digits and '-'"
            )
        if not isinstance(entry, dict):
            raise PartnersFileError(f"partners.{raw_id} must be a table")
        unknown = set(entry) - {"name", "issuers", "public_key_files", "jwks_urls", "depot"}
        if unknown:
            raise PartnersFileError(f"partners.{raw_id}: unknown keys {sorted(unknown)}")
        issuers = _strings(entry, "issuers", raw_id)
        if not issuers:
            raise PartnersFileError(f"partners.{raw_id}: list at least one token issuer")
        keys = tuple(base_dir / p for p in _strings(entry, "public_key_files", raw_id))
        jwks = _strings(entry, "jwks_urls", raw_id)
        if not keys and not jwks:
            raise PartnersFileError(f"partners.{raw_id}: give public_key_files or jwks_urls")
        depot = entry.get("depot", False)
        if not isinstance(depot, bool):
            raise PartnersFileError(f"partners.{raw_id}.depot must be true or false")
        partners[PartnerID(raw_id)] = Partner(
            id=PartnerID(raw_id),
            name=str(entry.get("name", raw_id)),
            issuers=issuers,
            public_key_files=keys,
            jwks_urls=jwks,
            depot=depot,
        )
    return Partners(partners)


def _strings(entry: Mapping[str, object], key: str, partner_id: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PartnersFileError(f"partners.{partner_id}.{key} must be a list of strings")
    return tuple(value)
