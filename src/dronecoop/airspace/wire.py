"""Conversion between F3548-21 wire JSON and the core's dataclasses.

Request bodies are read straight from the decoded JSON (field names and enums are those
of ``uas_standards.astm.f3548.v21.api``): ``ImplicitDict.parse`` costs ~0.7 ms per
operational intent body, more than the rest of the request path together, while reading
the mapping directly costs ~20 µs. ``parse_body`` (``ImplicitDict``) stays for the rare,
loosely specified bodies (reports, availability).

Everything that arrives is normalised here: altitudes to metres above WGS-84, times to
UTC-aware datetimes, outlines to ``geo`` outlines. Anything malformed becomes a
``BadRequest`` with a message that names the offending field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from implicitdict import ImplicitDict

from dronecoop.airspace import geo
from dronecoop.airspace.errors import BadRequest
from dronecoop.airspace.model import (
    ConstraintRef,
    EntityID,
    Footprint,
    ManagerID,
    OperationalIntentRef,
    OperationalIntentState,
    Subscription,
    SubscriptionID,
    UssAvailability,
)

D = TypeVar("D", bound=ImplicitDict)

FEET_TO_M = 0.3048
# RFC 3339 section 5.6 date-time (what Go's time.RFC3339Nano, used by InterUSS, accepts).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def parse_body(body: object, wire_type: type[D]) -> D:
    """Parse a decoded JSON body as ``wire_type``, or raise BadRequest saying what is wrong."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"request body must be a JSON object ({wire_type.__name__})")
    try:
        parsed: D = ImplicitDict.parse(body, wire_type)
    # ImplicitDict raises ValueError/TypeError/KeyError, and whatever nested parsers raise
    # (arrow's ParserError for times): every one of them means the body is malformed.
    except Exception as exc:
        raise BadRequest(f"invalid {wire_type.__name__}: {exc}") from exc
    return parsed


def _get(obj: Any, name: str, field: str) -> Any:
    if not isinstance(obj, Mapping):
        raise BadRequest(f"{field} must be a JSON object")
    return obj.get(name)


def _text(value: Any) -> str:
    """The string form of a JSON string or of a ``uas_standards`` str-Enum member."""
    return str(getattr(value, "value", value))


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{field} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise BadRequest(f"{field} must be finite")
    return number


def parse_time(value: Any, field: str) -> datetime:
    """An F3548 ``Time`` (``{"value": RFC 3339, "format": "RFC3339"}``) as UTC."""
    raw = _get(value, "value", field)
    if not isinstance(raw, str) or not _RFC3339.fullmatch(raw):
        raise BadRequest(f"{field}.value must be an RFC 3339 date-time, got {raw!r}")
    try:
        # RFC 3339 5.6 allows lower-case "t" and "z"; fromisoformat does not.
        moment = datetime.fromisoformat(raw.upper())
    except ValueError as exc:
        raise BadRequest(f"{field}.value is not an RFC 3339 time: {raw!r}") from exc
    if moment.tzinfo is None:
        raise BadRequest(f"{field}.value must carry a time zone (RFC 3339): {raw!r}")
    return moment.astimezone(UTC)


def parse_altitude(value: Any, field: str) -> float:
    """An F3548 ``Altitude``; only metres above the WGS-84 ellipsoid are accepted."""
    number = _number(_get(value, "value", field), f"{field}.value")
    reference = _text(value.get("reference", "W84"))
    units = _text(value.get("units", "M"))
    if reference != "W84":
        raise BadRequest(f"Invalid {field} reference: {reference} (only W84 is accepted)")
    if units != "M":
        raise BadRequest(f"Invalid {field} unit: {units} (only M is accepted)")
    return number


def _latlng(value: Any, field: str) -> geo.LatLng:
    return geo.LatLng(
        _number(_get(value, "lat", field), f"{field}.lat"),
        _number(_get(value, "lng", field), f"{field}.lng"),
    )


def parse_outline(volume: Any, field: str) -> geo.Outline | None:
    circle = _get(volume, "outline_circle", field)
    polygon = volume.get("outline_polygon")
    if circle is not None and polygon is not None:
        raise BadRequest(f"{field}: both circle and polygon specified in outline geometry")
    if circle is not None:
        center = _get(circle, "center", f"{field}.outline_circle")
        radius = _get(circle, "radius", f"{field}.outline_circle")
        if center is None or radius is None:
            raise BadRequest(f"{field}.outline_circle needs a center and a radius")
        units = _text(radius.get("units", "M")) if isinstance(radius, Mapping) else "M"
        if units != "M":
            raise BadRequest(f"{field}.outline_circle.radius.units must be M, got {units}")
        outline: geo.Outline = geo.CircleOutline(
            center=_latlng(center, f"{field}.outline_circle.center"),
            radius_m=_number(
                _get(radius, "value", f"{field}.outline_circle.radius"),
                f"{field}.outline_circle.radius.value",
            ),
        )
    elif polygon is not None:
        vertices = _get(polygon, "vertices", f"{field}.outline_polygon")
        if not isinstance(vertices, list):
            raise BadRequest(f"{field}.outline_polygon.vertices must be a list")
        outline = geo.PolygonOutline(
            tuple(
                _latlng(v, f"{field}.outline_polygon.vertices[{i}]") for i, v in enumerate(vertices)
            )
        )
    else:
        return None
    try:
        geo.validate_outline(outline)
    except BadRequest as exc:
        raise BadRequest(f"{field}: {exc}") from exc
    return outline


def parse_volume4d(value: Any, field: str) -> geo.Volume4D:
    """An F3548 ``Volume4D``, normalised (W84 metres, UTC)."""
    volume = _get(value, "volume", field)
    if volume is None:
        raise BadRequest(f"{field}.volume is required")
    lower = _get(volume, "altitude_lower", f"{field}.volume")
    upper = volume.get("altitude_upper")
    start = value.get("time_start")
    end = value.get("time_end")
    parsed = geo.Volume4D(
        outline=parse_outline(volume, f"{field}.volume"),
        altitude_lower_w84_m=None
        if lower is None
        else parse_altitude(lower, f"{field}.volume.altitude_lower"),
        altitude_upper_w84_m=None
        if upper is None
        else parse_altitude(upper, f"{field}.volume.altitude_upper"),
        time_start=None if start is None else parse_time(start, f"{field}.time_start"),
        time_end=None if end is None else parse_time(end, f"{field}.time_end"),
    )
    if (
        parsed.altitude_lower_w84_m is not None
        and parsed.altitude_upper_w84_m is not None
        and parsed.altitude_lower_w84_m > parsed.altitude_upper_w84_m
    ):
        raise BadRequest(f"{field}: lower altitude cannot be greater than upper altitude")
    if (
        parsed.time_start is not None
        and parsed.time_end is not None
        and parsed.time_start > parsed.time_end
    ):
        raise BadRequest(f"{field}: start time cannot be after end time")
    return parsed


def parse_volumes(values: Any, field: str) -> list[geo.Volume4D]:
    if not isinstance(values, list) or not values:
        raise BadRequest(f"{field} must be a non-empty list of Volume4D")
    return [parse_volume4d(v, f"{field}[{i}]") for i, v in enumerate(values)]


def require_object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise BadRequest(f"request body must be a JSON object ({what})")
    return body


def optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if "\x00" in value:  # JSON may carry it; no PostgreSQL text column can
        raise BadRequest(f"{name} must not contain NUL (U+0000) characters")
    return value


def required_str(body: Mapping[str, Any], name: str, what: str) -> str:
    value = optional_str(body, name)
    if value is None:
        raise BadRequest(f'Required field "{name}" not specified in {what}')
    return value


def optional_bool(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def _ref_common(body: Any, field: str) -> dict[str, Any]:
    obj = require_object(body, field)
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadRequest(f"{field}.version must be an integer")
    availability = _text(obj.get("uss_availability", UssAvailability.UNKNOWN.value))
    try:
        uss_availability = UssAvailability(availability)
    except ValueError as exc:
        raise BadRequest(f"{field}.uss_availability is not one of the standard's") from exc
    return {
        "id": EntityID(required_str(obj, "id", field)),
        "manager": ManagerID(required_str(obj, "manager", field)),
        "version": version,
        "ovn": required_str(obj, "ovn", field),
        "uss_base_url": required_str(obj, "uss_base_url", field),
        "footprint": Footprint(
            cells=frozenset(),
            time_start=parse_time(obj.get("time_start"), f"{field}.time_start"),
            time_end=parse_time(obj.get("time_end"), f"{field}.time_end"),
        ),
        "updated_at": datetime.now(UTC),
        "uss_availability": uss_availability,
        "partner": "",
    }


def parse_operational_intent_reference(body: Any, field: str) -> OperationalIntentRef:
    """An ``OperationalIntentReference`` another server sent (a remote DSS, a peer USS).

    Its footprint has no S2 cells (the wire does not carry them): only times."""
    common = _ref_common(body, field)
    state = _text(body.get("state"))
    try:
        parsed_state = OperationalIntentState(state)
    except ValueError as exc:
        raise BadRequest(f"{field}.state {state!r} is not an operational intent state") from exc
    subscription = optional_str(body, "subscription_id")
    return OperationalIntentRef(
        state=parsed_state,
        subscription_id=None
        if subscription in (None, NULL_SUBSCRIPTION_ID)
        else SubscriptionID(subscription),
        **common,
    )


def parse_constraint_reference(body: Any, field: str) -> ConstraintRef:
    common = _ref_common(body, field)
    del common["uss_availability"]  # a constraint reference carries its manager's, unused here
    return ConstraintRef(**common)


# -- outgoing -----------------------------------------------------------------------------


def format_time(moment: datetime) -> dict[str, str]:
    text = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"value": text, "format": "RFC3339"}


def operational_intent_reference(
    ref: OperationalIntentRef, *, show_ovn: bool, availability: UssAvailability
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ref.id,
        "manager": ref.manager,
        "uss_availability": availability.value,
        "version": ref.version,
        "state": ref.state.value,
        "ovn": ref.ovn if show_ovn else OVN_HIDDEN,
        "time_start": format_time(ref.footprint.time_start),
        "time_end": format_time(ref.footprint.time_end),
        "uss_base_url": ref.uss_base_url,
        "subscription_id": ref.subscription_id or NULL_SUBSCRIPTION_ID,
    }
    return body


def volume4d(volume: geo.Volume4D) -> dict[str, Any]:
    """A core volume as F3548 ``Volume4D`` (altitudes W84 metres, times RFC 3339 UTC)."""
    shape: dict[str, Any] = {}
    outline = volume.outline
    if isinstance(outline, geo.PolygonOutline):
        shape["outline_polygon"] = {
            "vertices": [{"lat": v.lat_deg, "lng": v.lng_deg} for v in outline.vertices]
        }
    elif isinstance(outline, geo.CircleOutline):
        shape["outline_circle"] = {
            "center": {"lat": outline.center.lat_deg, "lng": outline.center.lng_deg},
            "radius": {"value": outline.radius_m, "units": "M"},
        }
    for name, value in (
        ("altitude_lower", volume.altitude_lower_w84_m),
        ("altitude_upper", volume.altitude_upper_w84_m),
    ):
        if value is not None:
            shape[name] = {"value": value, "reference": "W84", "units": "M"}
    body: dict[str, Any] = {"volume": shape}
    if volume.time_start is not None:
        body["time_start"] = format_time(volume.time_start)
    if volume.time_end is not None:
        body["time_end"] = format_time(volume.time_end)
    return body


def constraint_reference(
    ref: ConstraintRef, *, show_ovn: bool, availability: UssAvailability
) -> dict[str, Any]:
    return {
        "id": ref.id,
        "manager": ref.manager,
        "uss_availability": availability.value,
        "version": ref.version,
        "ovn": ref.ovn if show_ovn else OVN_HIDDEN,
        "time_start": format_time(ref.footprint.time_start),
        "time_end": format_time(ref.footprint.time_end),
        "uss_base_url": ref.uss_base_url,
    }


def subscription(sub: Subscription, dependents: Sequence[str]) -> dict[str, Any]:
    return {
        "id": sub.id,
        "version": sub.version,
        "notification_index": sub.notification_index,
        "time_start": format_time(sub.footprint.time_start),
        "time_end": format_time(sub.footprint.time_end),
        "uss_base_url": sub.uss_base_url,
        "notify_for_operational_intents": sub.notify_for_operational_intents,
        "notify_for_constraints": sub.notify_for_constraints,
        "implicit_subscription": sub.implicit,
        "dependent_operational_intents": list(dependents),
    }


OVN_HIDDEN = "Available from USS"  # F3548-21: other managers see this instead of the OVN
NULL_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000000"  # InterUSS: no subscription


def subscribers(notices: Sequence[Any]) -> list[dict[str, Any]]:
    """Group subscriptions to notify by their USS base URL, as ``SubscriberToNotify``."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for notice in notices:
        grouped.setdefault(notice.uss_base_url, []).append(
            {
                "subscription_id": notice.subscription_id,
                "notification_index": notice.notification_index,
            }
        )
    return [{"uss_base_url": url, "subscriptions": subs} for url, subs in grouped.items()]


def availability(status: Any) -> dict[str, Any]:
    """``UssAvailabilityStatusResponse``."""
    return {
        "status": {"uss": status.uss_id, "availability": status.availability.value},
        "version": status.version,
    }
