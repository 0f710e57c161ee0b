"""Values read from what people send (request bodies, plan and zone files): a JSON object,
RFC 3339 times. Malformed input raises ``PlanFileError`` (400, RFC 9457) with the field named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from dronecoop.planning.errors import PlanFileError


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PlanFileError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise PlanFileError("body must be a JSON object")
    return body


def rfc3339(value: Any, name: str) -> datetime:
    """``value`` as a time-zone-aware datetime, or a PlanFileError naming ``name``."""
    if not isinstance(value, str):
        raise PlanFileError(f'"{name}" must be an RFC 3339 time, e.g. "2026-12-01T09:00:00Z"')
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PlanFileError(f'"{name}" is not an RFC 3339 time: {value!r}') from exc
    if moment.tzinfo is None:
        raise PlanFileError(f'"{name}" needs a time zone (Z for UTC)')
    return moment
