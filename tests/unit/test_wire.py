"""F3548-21 wire bodies in and out: normalised on the way in, malformed ones refused by name."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from uas_standards.astm.f3548.v21 import api

from dronecoop.airspace import geo, wire
from dronecoop.airspace.errors import BadRequest
from dronecoop.airspace.model import (
    EntityID,
    Footprint,
    ManagerID,
    OperationalIntentRef,
    OperationalIntentState,
    UssAvailability,
)
from tests import strategies as s

KST = timezone(timedelta(hours=9), "KST")
T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
LAT, LNG = s.HUMPHREYS.lat_deg, s.HUMPHREYS.lng_deg

properties = settings(max_examples=100, deadline=None)


def altitude(value: float, reference: str = "W84", units: str = "M") -> dict[str, Any]:
    return {"value": value, "reference": reference, "units": units}


def polygon() -> dict[str, Any]:
    return {
        "vertices": [
            {"lat": LAT - 0.005, "lng": LNG - 0.005},
            {"lat": LAT - 0.005, "lng": LNG + 0.005},
            {"lat": LAT + 0.005, "lng": LNG + 0.005},
            {"lat": LAT + 0.005, "lng": LNG - 0.005},
        ]
    }


def circle(radius_m: float = 500.0, units: str = "M") -> dict[str, Any]:
    return {"center": {"lat": LAT, "lng": LNG}, "radius": {"value": radius_m, "units": units}}


def body(**volume_overrides: Any) -> dict[str, Any]:
    """A valid F3548 Volume4D body, with fields of its ``volume`` overridden."""
    volume: dict[str, Any] = {
        "outline_polygon": polygon(),
        "altitude_lower": altitude(0.0),
        "altitude_upper": altitude(120.0),
    }
    volume.update(volume_overrides)
    return {
        "volume": {k: v for k, v in volume.items() if v is not None},
        "time_start": {"value": "2030-01-02T09:00:00Z", "format": "RFC3339"},
        "time_end": {"value": "2030-01-02T09:30:00Z", "format": "RFC3339"},
    }


def parse(raw: dict[str, Any], field: str = "extents[0]") -> geo.Volume4D:
    return wire.parse_volume4d(raw, field)


# --------------------------------------------------------------------------- accepted


def test_a_valid_polygon_volume_is_normalised() -> None:
    assert parse(body()) == geo.Volume4D(
        outline=geo.PolygonOutline(
            tuple(geo.LatLng(v["lat"], v["lng"]) for v in polygon()["vertices"])
        ),
        altitude_lower_w84_m=0.0,
        altitude_upper_w84_m=120.0,
        time_start=T0,
        time_end=T0 + timedelta(minutes=30),
    )


def test_a_valid_circle_volume_is_normalised() -> None:
    parsed = parse(body(outline_polygon=None, outline_circle=circle(750.0)))
    assert parsed.outline == geo.CircleOutline(geo.LatLng(LAT, LNG), 750.0)


def test_times_with_an_offset_are_converted_to_utc() -> None:
    raw = body()
    raw["time_start"]["value"] = "2030-01-02T18:00:00+09:00"
    parsed = parse(raw)
    assert parsed.time_start == T0
    assert parsed.time_start is not None
    assert parsed.time_start.utcoffset() == timedelta(0)


def test_a_volume_without_bounds_or_outline_is_unbounded() -> None:
    assert parse({"volume": {}}) == geo.Volume4D(outline=None)


def test_equal_altitudes_and_equal_times_are_accepted() -> None:
    raw = body(altitude_lower=altitude(50.0), altitude_upper=altitude(50.0))
    raw["time_end"] = copy.deepcopy(raw["time_start"])
    parsed = parse(raw)
    assert parsed.altitude_lower_w84_m == parsed.altitude_upper_w84_m == 50.0
    assert parsed.time_start == parsed.time_end == T0


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize("reference", ["AMSL", "SFC", "w84", ""])
def test_an_altitude_not_referenced_to_wgs84_is_refused(reference: str) -> None:
    with pytest.raises(
        BadRequest, match=rf"extents\[0\]\.volume\.altitude_upper.*{reference}.*W84"
    ):
        parse(body(altitude_upper=altitude(120.0, reference=reference)))


@pytest.mark.parametrize("units", ["FT", "KM", "m", ""])
def test_an_altitude_in_units_other_than_metres_is_refused(units: str) -> None:
    with pytest.raises(BadRequest, match=rf"extents\[0\]\.volume\.altitude_lower.*{units}.*\bM\b"):
        parse(body(altitude_lower=altitude(0.0, units=units)))


def test_a_circle_radius_in_units_other_than_metres_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"outline_circle\.radius\.units must be M, got FT"):
        parse(body(outline_polygon=None, outline_circle=circle(units="FT")))


def test_a_lower_altitude_above_the_upper_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"(?i)extents\[0\]: lower altitude .*upper altitude"):
        parse(body(altitude_lower=altitude(120.5), altitude_upper=altitude(120.0)))


def test_a_start_after_the_end_is_refused() -> None:
    raw = body()
    raw["time_start"]["value"] = "2030-01-02T09:30:00.000001Z"
    with pytest.raises(BadRequest, match=r"(?i)extents\[0\]: start time .*end time"):
        parse(raw)


def test_a_volume_with_both_a_circle_and_a_polygon_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"extents\[0\]\.volume: both circle and polygon"):
        parse(body(outline_circle=circle()))


def test_a_circle_without_a_radius_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"extents\[0\]\.volume\.outline_circle needs a center"):
        parse(body(outline_polygon=None, outline_circle={"center": {"lat": LAT, "lng": LNG}}))


def test_an_invalid_outline_is_refused_with_the_field_named() -> None:
    two_vertices = {"vertices": polygon()["vertices"][:2]}
    with pytest.raises(
        BadRequest, match=r"extents\[0\]\.volume: polygon needs at least 3 vertices, got 2"
    ):
        parse(body(outline_polygon=two_vertices))


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda raw: raw["volume"]["outline_polygon"]["vertices"][2].update(lat="37"),
            "vertices[2].lat",
        ),
        (lambda raw: raw["volume"]["altitude_lower"].update(value=True), "altitude_lower.value"),
        (lambda raw: raw["volume"].update(altitude_upper=120), "altitude_upper"),
        (lambda raw: raw.update(volume=[]), "extents[0]"),
    ],
)
def test_a_field_of_the_wrong_json_type_is_refused_by_name(edit, field: str) -> None:
    raw = body()
    edit(raw)
    with pytest.raises(BadRequest, match=re.escape(field)):
        parse(raw)


def test_a_volume_without_volume_is_refused() -> None:
    raw = body()
    del raw["volume"]
    with pytest.raises(BadRequest, match=r"extents\[0\]\.volume is required"):
        parse(raw)


@pytest.mark.parametrize("value", ["half past nine", "2030-01-02T09:00:00", 1893574800])
def test_a_time_that_is_not_rfc3339_with_a_zone_is_refused(value: Any) -> None:
    raw = body()
    raw["time_end"]["value"] = value
    with pytest.raises(BadRequest, match=r"extents\[0\]\.time_end"):
        parse(raw)


def test_a_time_with_nanoseconds_as_go_clients_send_is_accepted_to_the_microsecond() -> None:
    raw = body()
    raw["time_start"]["value"] = "2030-01-02T09:00:00.123456789Z"
    assert parse(raw).time_start == T0 + timedelta(microseconds=123456)


def test_a_time_with_lower_case_t_and_z_is_accepted_as_rfc3339_allows() -> None:
    raw = body()
    raw["time_start"]["value"] = "2030-01-02t09:00:00z"
    assert parse(raw).time_start == T0


def test_an_empty_extents_list_is_refused_and_a_bad_extent_is_named_by_index() -> None:
    with pytest.raises(BadRequest, match="extents must be a non-empty list"):
        wire.parse_volumes([], "extents")
    bad = body(altitude_lower=altitude(500.0))
    with pytest.raises(BadRequest, match=r"extents\[1\]: lower altitude"):
        wire.parse_volumes([body(), bad], "extents")


# --------------------------------------------------------------------------- parse_body


def test_a_body_missing_a_required_field_is_refused_naming_the_type_and_the_field() -> None:
    with pytest.raises(
        BadRequest,
        match='invalid PutOperationalIntentReferenceParameters: Required field "extents"',
    ):
        wire.parse_body(
            {"key": [], "state": "Accepted", "uss_base_url": "https://uss1.example/utm"},
            api.PutOperationalIntentReferenceParameters,
        )


@pytest.mark.parametrize("raw", [[], "extents", None, 42])
def test_a_body_that_is_not_a_json_object_is_refused(raw: Any) -> None:
    with pytest.raises(BadRequest, match=r"must be a JSON object \(Volume4D\)"):
        wire.parse_body(raw, api.Volume4D)
    with pytest.raises(BadRequest, match=r"must be a JSON object \(PutSubscriptionParameters\)"):
        wire.require_object(raw, "PutSubscriptionParameters")


def test_a_missing_required_string_is_refused_naming_the_type_and_the_field() -> None:
    what = "PutOperationalIntentReferenceParameters"
    with pytest.raises(BadRequest, match=f'Required field "state" not specified in {what}'):
        wire.required_str({"uss_base_url": "https://uss1.example/utm"}, "state", what)
    with pytest.raises(BadRequest, match="state must be a string"):
        wire.required_str({"state": 3}, "state", what)
    assert wire.required_str({"state": "Accepted"}, "state", what) == "Accepted"


def test_an_optional_flag_defaults_to_false_and_must_be_a_json_boolean() -> None:
    assert wire.optional_bool({}, "notify_for_constraints") is False
    assert wire.optional_bool({"notify_for_constraints": True}, "notify_for_constraints")
    with pytest.raises(BadRequest, match="notify_for_constraints must be true or false"):
        wire.optional_bool({"notify_for_constraints": "yes"}, "notify_for_constraints")


def test_a_body_with_a_wrongly_typed_field_is_refused() -> None:
    with pytest.raises(BadRequest, match="invalid Altitude"):
        wire.parse_body({"value": "high", "reference": "W84", "units": "M"}, api.Altitude)


# --------------------------------------------------------------------------- outgoing


def test_format_time_writes_utc_with_a_z_suffix() -> None:
    assert wire.format_time(T0) == {"value": "2030-01-02T09:00:00.000000Z", "format": "RFC3339"}


def test_format_time_converts_other_zones_to_utc() -> None:
    assert wire.format_time(datetime(2030, 1, 2, 18, 0, 0, 1, tzinfo=KST))["value"] == (
        "2030-01-02T09:00:00.000001Z"
    )


@properties
@given(s.moments())
def test_a_formatted_time_parses_back_to_the_same_instant(moment: datetime) -> None:
    formatted = wire.format_time(moment)
    assert formatted["value"].endswith("Z")
    assert wire.parse_time(formatted, "time_start") == moment


def test_a_reference_hides_its_ovn_from_other_managers() -> None:
    ref = OperationalIntentRef(
        id=EntityID("2f8a3c1e-5b7d-4e9f-a1b2-c3d4e5f60718"),
        manager=ManagerID("uss1"),
        version=1,
        state=OperationalIntentState.ACCEPTED,
        ovn="secret-ovn-1234567890",
        uss_base_url="https://uss1.example/utm",
        subscription_id=None,
        footprint=Footprint(frozenset({1}), T0, T0 + timedelta(minutes=30)),
        updated_at=T0,
    )
    mine = wire.operational_intent_reference(
        ref, show_ovn=True, availability=UssAvailability.NORMAL
    )
    theirs = wire.operational_intent_reference(
        ref, show_ovn=False, availability=UssAvailability.NORMAL
    )
    assert mine["ovn"] == "secret-ovn-1234567890"
    assert theirs["ovn"] == wire.OVN_HIDDEN
    assert theirs["subscription_id"] == wire.NULL_SUBSCRIPTION_ID
    assert theirs["time_end"]["value"] == "2030-01-02T09:30:00.000000Z"
