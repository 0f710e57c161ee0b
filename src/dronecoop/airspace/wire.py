"""Conversion between F3548-21 wire types (``uas_standards``) and the core's dataclasses.

Everything that arrives is normalised here: altitudes to metres above WGS-84, times to
UTC-aware datetimes, outlines to ``geo`` outlines. Anything malformed becomes a
``BadRequest`` with a message that names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from implicitdict import ImplicitDict

from dronecoop.airspace import geo
from dronecoop.airspace.errors import BadRequest
from dronecoop.airspace.model import (
    ConstraintRef,
    OperationalIntentRef,
    Subscription,
    UssAvailability,
)

D = TypeVar("D", bound=ImplicitDict)

FEET_TO_M = 0.3048


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


def parse_time(value: Any, field: str) -> datetime:
    try:
        moment = value.value.datetime
    except AttributeError as exc:
        raise BadRequest(f"{field} is not a valid time") from exc
    if not isinstance(moment, datetime):
        raise BadRequest(f"{field} is not a valid time")
    if moment.tzinfo is None:
        raise BadRequest(f"{field} must carry a time zone (RFC 3339)")
    return moment.astimezone(UTC)


def parse_altitude(value: Any, field: str) -> float:
    try:
        reference = str(getattr(value.reference, "value", value.reference))
        units = str(getattr(value.units, "value", value.units))
        number = float(value.value)
    except (AttributeError, TypeError, ValueError) as exc:
        raise BadRequest(f"{field} is not a valid altitude") from exc
    if reference != "W84":
        raise BadRequest(f"{field}.reference must be W84, got {reference}")
    if units == "M":
        return number
    if units == "FT":
        return number * FEET_TO_M
    raise BadRequest(f"{field}.units must be M, got {units}")


def parse_outline(volume: Any, field: str) -> geo.Outline | None:
    circle = volume.get("outline_circle")
    polygon = volume.get("outline_polygon")
    if circle is not None and polygon is not None:
        raise BadRequest(f"{field} may have outline_circle or outline_polygon, not both")
    if circle is not None:
        center = circle.get("center")
        radius = circle.get("radius")
        if center is None or radius is None:
            raise BadRequest(f"{field}.outline_circle needs a center and a radius")
        units = str(getattr(radius.units, "value", radius.units))
        if units != "M":
            raise BadRequest(f"{field}.outline_circle.radius.units must be M, got {units}")
        outline: geo.Outline = geo.CircleOutline(
            center=geo.LatLng(float(center.lat), float(center.lng)), radius_m=float(radius.value)
        )
    elif polygon is not None:
        outline = geo.PolygonOutline(
            tuple(geo.LatLng(float(v.lat), float(v.lng)) for v in polygon.vertices)
        )
    else:
        return None
    try:
        geo.validate_outline(outline)
    except BadRequest as exc:
        raise BadRequest(f"{field}: {exc}") from exc
    return outline


def parse_volume4d(value: Any, field: str) -> geo.Volume4D:
    volume = value.get("volume")
    if volume is None:
        raise BadRequest(f"{field}.volume is required")
    lower = volume.get("altitude_lower")
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
        raise BadRequest(f"{field}: altitude_lower is above altitude_upper")
    if (
        parsed.time_start is not None
        and parsed.time_end is not None
        and parsed.time_start > parsed.time_end
    ):
        raise BadRequest(f"{field}: time_end is before time_start")
    return parsed


def parse_volumes(values: Sequence[Any] | None, field: str) -> list[geo.Volume4D]:
    if not values:
        raise BadRequest(f"{field} must hold at least one volume")
    return [parse_volume4d(v, f"{field}[{i}]") for i, v in enumerate(values)]


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


def subscription(sub: Subscription) -> dict[str, Any]:
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
        "dependent_operational_intents": [],
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
