"""Reading the partners file (the adapter around ``trust.partners`` and ``releasability``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from dronecoop.planning.errors import PlanningError
from dronecoop.planning.priorities import PriorityPolicy, parse_priorities
from dronecoop.trust.errors import PartnersFileError
from dronecoop.trust.partners import LOCAL_PARTNER, Partner, Partners, parse_partners
from dronecoop.trust.releasability import (
    DEFAULT_POLICY,
    ReleasabilityPolicy,
    parse_policy_overrides,
)

LOCAL_ONLY = Partners({LOCAL_PARTNER: Partner(LOCAL_PARTNER, "this node's own organisation")})


def load_partners(path: Path) -> Partners:
    return parse_partners(_read(path), path.parent)


def load_policy(path: Path | None) -> ReleasabilityPolicy:
    """The default policy with the file's ``[releasability]`` table applied, if any."""
    if path is None:
        return DEFAULT_POLICY
    try:
        table = tomllib.loads(_read(path)).get("releasability", {})
    except tomllib.TOMLDecodeError as exc:
        raise PartnersFileError(f"partners file is not valid TOML: {exc}") from exc
    if not isinstance(table, dict):
        raise PartnersFileError("[releasability] must be a table")
    return parse_policy_overrides(table)


def load_priorities(path: Path | None) -> PriorityPolicy:
    """The file's ``[priorities]`` table (planning.priorities), or the defaults."""
    if path is None:
        return PriorityPolicy()
    try:
        table = tomllib.loads(_read(path)).get("priorities")
    except tomllib.TOMLDecodeError as exc:
        raise PartnersFileError(f"partners file is not valid TOML: {exc}") from exc
    try:
        return parse_priorities(table)
    except PlanningError as exc:
        raise PartnersFileError(str(exc)) from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PartnersFileError(f"cannot read partners file {path}: {exc}") from exc
