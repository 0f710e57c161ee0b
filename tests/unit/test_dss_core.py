"""The DSS's pure rules: entity ids, OVNs, areas, and the checks made before any transaction."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronecoop.airspace import dss, geo, s2cells
from dronecoop.airspace.errors import BadRequest, PermissionDenied
from dronecoop.airspace.model import ManagerID
from tests import strategies as s

NOW = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
ENTITY_ID = "2f8a3c1e-5b7d-4e9f-a1b2-c3d4e5f60718"
URL_SAFE_OVN = re.compile(r"^[A-Za-z0-9._~-]{16,128}$")  # F3548-21 EntityOVN length 16..128

properties = settings(max_examples=100, deadline=None)


def uuid7(at: datetime) -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, version 7, variant 10, random bits."""
    unix_ms = int(at.timestamp() * 1000)
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


# --------------------------------------------------------------------------- entity ids


@properties
@given(st.uuids(version=4), st.booleans())
def test_a_version_4_uuid_is_accepted_in_lower_case(raw: uuid.UUID, upper: bool) -> None:
    text = str(raw).upper() if upper else str(raw)
    assert dss.parse_entity_id(text) == str(raw)


@properties
@given(st.uuids().filter(lambda u: u.version != 4))
def test_a_uuid_of_any_other_version_is_refused(raw: uuid.UUID) -> None:
    with pytest.raises(BadRequest, match=f"Invalid ID format: `{raw}`"):
        dss.parse_entity_id(str(raw))


def test_a_version_7_uuid_is_not_an_entity_id() -> None:
    suffix = uuid7(NOW)
    with pytest.raises(BadRequest, match="Invalid ID format"):
        dss.parse_entity_id(suffix)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-uuid",
        ENTITY_ID.replace("-", ""),
        f"{{{ENTITY_ID}}}",
        f"urn:uuid:{ENTITY_ID}",
        f" {ENTITY_ID}",
        f"{ENTITY_ID}0",
        ENTITY_ID[:-1] + "g",
        "2f8a3c1e-5b7d-4e9f-71b2-c3d4e5f60718",  # version 4, but not the RFC 4122 variant
    ],
)
def test_anything_but_a_canonical_version_4_uuid_is_refused(garbage: str) -> None:
    with pytest.raises(BadRequest, match="Invalid Subscription ID format"):
        dss.parse_entity_id(garbage, "Subscription ID")


def test_an_entity_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(BadRequest, match="Invalid ID format"):
        dss.parse_entity_id(f"{ENTITY_ID}\n")


# --------------------------------------------------------------------------- OVNs


@properties
@given(st.uuids(version=4).map(str), s.moments())
def test_a_new_ovn_is_16_to_128_url_safe_characters(entity_id: str, moment: datetime) -> None:
    ovn = dss.new_ovn(entity_id, moment)
    assert URL_SAFE_OVN.match(ovn)
    assert quote(ovn, safe="") == ovn  # it travels in URL paths (.../{entityid}/{ovn})


def test_a_new_ovn_differs_on_every_call_even_at_the_same_moment() -> None:
    assert len({dss.new_ovn(ENTITY_ID, NOW) for _ in range(50)}) == 50


def test_a_fresh_uuid7_suffix_becomes_the_ovn_after_the_entity_id() -> None:
    suffix = uuid7(NOW)
    assert dss.ovn_from_suffix(ENTITY_ID, suffix, NOW) == f"{ENTITY_ID}_{suffix}"


@pytest.mark.parametrize("skew", [timedelta(minutes=-4, seconds=-59), timedelta(minutes=4)])
def test_a_uuid7_suffix_within_five_minutes_of_now_is_accepted(skew: timedelta) -> None:
    suffix = uuid7(NOW + skew)
    assert dss.ovn_from_suffix(ENTITY_ID, suffix, NOW).endswith(suffix)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-1)])
def test_a_uuid7_suffix_more_than_five_minutes_from_now_is_refused(skew: timedelta) -> None:
    with pytest.raises(BadRequest, match=r"too far away from now .*max is 0:05:00"):
        dss.ovn_from_suffix(ENTITY_ID, uuid7(NOW + skew), NOW)


def test_a_uuid4_suffix_is_refused() -> None:
    suffix = str(uuid.uuid4())
    with pytest.raises(BadRequest, match=f"`{suffix}` is not version 7 but version 4"):
        dss.ovn_from_suffix(ENTITY_ID, suffix, NOW)


def test_a_suffix_that_is_not_a_uuid_is_refused() -> None:
    with pytest.raises(BadRequest, match="`my-ovn-please` is not a valid UUID"):
        dss.ovn_from_suffix(ENTITY_ID, "my-ovn-please", NOW)


# --------------------------------------------------------------------------- areas


@properties
@given(st.lists(s.bounded_volumes(), min_size=1, max_size=4))
def test_an_area_is_the_union_of_its_volumes_coverings_within_their_envelope(
    volumes: list[geo.Volume4D],
) -> None:
    area = dss.area_of(volumes)
    coverings = [s2cells.covering(v.outline) for v in volumes]
    assert area.cells == frozenset().union(*coverings)
    assert area.bounds == geo.envelope(volumes)
    footprint = area.footprint()
    assert footprint.cells == area.cells
    assert footprint.time_start == min(v.time_start for v in volumes)
    assert footprint.altitude_upper_w84_m == max(v.altitude_upper_w84_m for v in volumes)


def test_an_area_needs_at_least_one_volume() -> None:
    with pytest.raises(BadRequest, match="area_of_interest must hold at least one volume"):
        dss.area_of([], field="area_of_interest")


def test_a_volume_without_outline_is_refused_and_named_by_its_index() -> None:
    with_outline = geo.Volume4D(geo.CircleOutline(s.HUMPHREYS, 300.0))
    with pytest.raises(BadRequest, match=r"Missing footprint in extents\[1\]"):
        dss.area_of([with_outline, geo.Volume4D(None)])


def test_a_volume_without_outline_adds_no_cells_where_outlines_are_optional() -> None:
    circle = geo.CircleOutline(s.HUMPHREYS, 300.0)
    late = NOW + timedelta(hours=5)
    area = dss.area_of(
        [geo.Volume4D(circle, 0.0, 100.0, NOW, NOW + timedelta(hours=1)), geo.Volume4D(None)],
        require_outline=False,
    )
    assert area.cells == s2cells.covering(circle)
    assert area.bounds.time_end is None  # the outline-less volume is unbounded in time
    assert dss.area_of([geo.Volume4D(None, time_end=late)], require_outline=False).cells == set()


def test_an_unbounded_area_has_a_footprint_over_all_time_and_optionally_all_altitudes() -> None:
    area = dss.area_of([geo.Volume4D(geo.CircleOutline(s.HUMPHREYS, 300.0), 0.0, 100.0)])
    footprint = area.footprint()
    assert (footprint.time_start, footprint.time_end) == (
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
    )
    assert (footprint.altitude_lower_w84_m, footprint.altitude_upper_w84_m) == (0.0, 100.0)
    flat = area.footprint(altitudes=False)
    assert (flat.altitude_lower_w84_m, flat.altitude_upper_w84_m) == (None, None)


# --------------------------------------------------------------------------- checks before I/O


class UntouchableStore:
    """A store that fails the test if the DSS opens a transaction at all."""

    def read(self, work: Callable[[Any], Any]) -> NoReturn:
        raise AssertionError("the DSS opened a read transaction for an invalid request")

    def write(self, work: Callable[[Any], Any]) -> NoReturn:
        raise AssertionError("the DSS opened a write transaction for an invalid request")

    def close(self) -> None:
        pass


SC_CALLER = dss.Caller(ManagerID("uss1"), frozenset({dss.SCOPE_STRATEGIC_COORDINATION}))


@pytest.fixture
def service() -> dss.DssService:
    return dss.DssService(UntouchableStore(), clock=lambda: NOW)  # type: ignore[arg-type]


def extents(
    start: datetime | None = NOW + timedelta(minutes=1),
    end: datetime | None = NOW + timedelta(minutes=31),
    alt: tuple[float | None, float | None] = (0.0, 120.0),
) -> dss.Area:
    outline = geo.CircleOutline(s.HUMPHREYS, 500.0)
    return dss.area_of([geo.Volume4D(outline, alt[0], alt[1], start, end)])


def intent(**overrides: Any) -> dss.OperationalIntentRequest:
    fields: dict[str, Any] = {
        "extents": extents(),
        "key": frozenset(),
        "state": "Accepted",
        "uss_base_url": "https://uss1.example/utm",
        "new_subscription": dss.ImplicitSubscriptionRequest("https://uss1.example/utm"),
    }
    fields.update(overrides)
    return dss.OperationalIntentRequest(**fields)


@pytest.mark.parametrize(
    ("ovn", "request_", "complaint"),
    [
        (None, intent(uss_base_url=""), "Missing required UssBaseUrl"),
        (None, intent(state="Ended"), "Invalid OperationalIntent state: Ended"),
        (None, intent(state="Activated"), "Invalid state for initial version: `Activated`"),
        (None, intent(extents=extents(start=None)), "Missing start time"),
        (None, intent(extents=extents(end=None)), "Missing end time"),
        (None, intent(extents=extents(alt=(None, 120.0))), "Missing lower altitude"),
        (None, intent(extents=extents(alt=(0.0, None))), "Missing upper altitude"),
        (
            None,
            intent(extents=extents(start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))),
            "End time may not be in the past",
        ),
        (
            None,
            intent(subscription_id=str(uuid.uuid4())),
            "Cannot provide both a Subscription ID and request an implicit subscription",
        ),
        (
            None,
            intent(new_subscription=dss.ImplicitSubscriptionRequest("")),
            "Missing required USS base url for new subscription",
        ),
        (None, intent(subscription_id="sub-1"), "Invalid ID format for Subscription"),
        (None, intent(requested_ovn_suffix=str(uuid.uuid4())), "is not version 7"),
        (
            "some-current-ovn",
            intent(state="Activated", new_subscription=None),
            "requires either a subscription ID or information to create an implicit subscription",
        ),
    ],
)
def test_an_invalid_operational_intent_is_refused_before_any_transaction(
    service: dss.DssService, ovn: str | None, request_: dss.OperationalIntentRequest, complaint: str
) -> None:
    with pytest.raises(BadRequest, match=re.escape(complaint)):
        service.put_operational_intent(SC_CALLER, ENTITY_ID, ovn, request_)


def test_an_invalid_entity_id_is_refused_before_any_transaction(service: dss.DssService) -> None:
    with pytest.raises(BadRequest, match="Invalid ID format: `flight-1`"):
        service.put_operational_intent(SC_CALLER, "flight-1", None, intent())


@pytest.mark.parametrize("state", ["Nonconforming", "Contingent"])
def test_only_a_cmsa_caller_may_declare_an_intent_off_nominal(
    service: dss.DssService, state: str
) -> None:
    with pytest.raises(PermissionDenied, match=f"utm.conformance_monitoring_sa.*{state}.*SCD0100"):
        service.put_operational_intent(SC_CALLER, ENTITY_ID, "current-ovn", intent(state=state))


def test_a_query_without_cells_is_refused_before_any_transaction(service: dss.DssService) -> None:
    nowhere = dss.area_of([geo.Volume4D(None)], require_outline=False)
    for query in (
        service.query_operational_intents,
        service.query_constraints,
        service.query_subscriptions,
    ):
        with pytest.raises(BadRequest, match="Missing geospatial footprint for query"):
            query(SC_CALLER, nowhere)


def test_a_subscription_without_any_notification_trigger_is_refused(
    service: dss.DssService,
) -> None:
    request_ = dss.SubscriptionRequest(extents(), "https://uss1.example/utm", False, False)
    with pytest.raises(BadRequest, match="No notification triggers requested"):
        service.put_subscription(SC_CALLER, ENTITY_ID, None, request_)


def test_deleting_without_an_ovn_or_version_is_refused(service: dss.DssService) -> None:
    with pytest.raises(BadRequest, match="Missing OVN for operational intent"):
        service.delete_operational_intent(SC_CALLER, ENTITY_ID, "")
    with pytest.raises(BadRequest, match="Missing OVN for constraint"):
        service.delete_constraint(SC_CALLER, ENTITY_ID, "")
    with pytest.raises(BadRequest, match="Missing version"):
        service.delete_subscription(SC_CALLER, ENTITY_ID, "")


def test_an_unknown_availability_state_is_refused(service: dss.DssService) -> None:
    with pytest.raises(BadRequest, match="Invalid availability state: Sleepy"):
        service.set_uss_availability(SC_CALLER, "uss1", "Sleepy", "")
