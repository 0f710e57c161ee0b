"""Releasability: default deny, the owner always sees its own, fields withheld by rule."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dronecoop.trust.errors import PartnersFileError
from dronecoop.trust.partners import PartnerID
from dronecoop.trust.releasability import (
    DEFAULT_POLICY,
    RecordKind,
    RecordMeta,
    Release,
    parse_policy_overrides,
)

ROK, US, JP = PartnerID("rok-army"), PartnerID("us-army"), PartnerID("jgsdf")
partners = st.sampled_from([ROK, US, JP])
kinds = st.sampled_from([*RecordKind, "something-new"])
metas = st.builds(
    RecordMeta,
    kind=kinds,
    owner=partners,
    released_to=st.frozensets(partners),
    assigned_to=st.frozensets(partners),
)


@given(meta=metas)
def test_the_owner_always_sees_its_own_records_whole(meta: RecordMeta) -> None:
    assert DEFAULT_POLICY.visible(meta.owner, meta)
    record = {"mission": "m", "notes": "n", "volumes": []}
    assert DEFAULT_POLICY.redact(meta.owner, meta, record) == record


@given(meta=metas, viewer=partners)
def test_a_kind_without_a_rule_is_seen_by_its_owner_alone(meta: RecordMeta, viewer: str) -> None:
    unknown = RecordMeta("something-new", meta.owner, meta.released_to, meta.assigned_to)
    assert DEFAULT_POLICY.visible(PartnerID(viewer), unknown) == (viewer == meta.owner)


@given(meta=metas, viewer=partners)
def test_naming_more_partners_never_hides_a_record(meta: RecordMeta, viewer: str) -> None:
    wider = RecordMeta(meta.kind, meta.owner, meta.released_to | {US}, meta.assigned_to | {US})
    if DEFAULT_POLICY.visible(PartnerID(viewer), meta):
        assert DEFAULT_POLICY.visible(PartnerID(viewer), wider)


@pytest.mark.parametrize(
    ("kind", "released_to", "assigned_to", "us_sees"),
    [
        (RecordKind.OPERATIONAL_INTENT_REFERENCE, set(), set(), True),
        (RecordKind.LIVE_POSITION, set(), set(), True),
        (RecordKind.AIRCRAFT, set(), set(), False),
        (RecordKind.AIRCRAFT, {US}, set(), True),
        (RecordKind.FLIGHT_LOG, {US}, set(), False),  # naming is not assigning
        (RecordKind.FLIGHT_LOG, set(), {US}, True),
        (RecordKind.MAINTENANCE_RECORD, set(), {JP}, False),
        (RecordKind.AUDIT_ENTRY, {US}, {US}, False),
    ],
)
def test_the_default_rules_users_expect(
    kind: RecordKind, released_to: set[PartnerID], assigned_to: set[PartnerID], us_sees: bool
) -> None:
    meta = RecordMeta(kind, ROK, frozenset(released_to), frozenset(assigned_to))
    assert DEFAULT_POLICY.visible(US, meta) is us_sees


def test_a_flights_details_go_only_to_the_partners_it_names() -> None:
    flight = {"volumes": ["v"], "mission": "recce", "crew": ["kim"], "notes": "fuel low"}
    plain = RecordMeta(RecordKind.FLIGHT, ROK)
    named = RecordMeta(RecordKind.FLIGHT, ROK, released_to=frozenset({US}))
    assert DEFAULT_POLICY.redact(US, plain, flight) == {"volumes": ["v"]}
    assert DEFAULT_POLICY.redact(US, named, flight) == {
        "volumes": ["v"],
        "mission": "recce",
        "crew": ["kim"],
    }


def test_the_partners_file_overrides_records_and_fields() -> None:
    table = tomllib.loads(
        'aircraft = "all_partners"\n'
        'flight = { record = "all_partners", fields = { payload = "owner_only" } }\n'
    )
    policy = parse_policy_overrides(table)
    assert policy.rule(RecordKind.AIRCRAFT) is Release.ALL_PARTNERS
    assert policy.field_rules[RecordKind.FLIGHT]["payload"] is Release.OWNER_ONLY
    assert policy.field_rules[RecordKind.FLIGHT]["mission"] is Release.NAMED_PARTNERS
    assert DEFAULT_POLICY.rule(RecordKind.AIRCRAFT) is Release.NAMED_PARTNERS  # untouched


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"gossip": "all_partners"}, "unknown record kind"),
        ({"aircraft": "everyone"}, "is not one of"),
        ({"aircraft": 3}, "string or a table"),
        ({"operational_intent_reference": "owner_only"}, "fixed by ASTM F3548-21"),
    ],
)
def test_a_bad_override_is_refused_with_the_reason(table: dict[str, object], message: str) -> None:
    with pytest.raises(PartnersFileError, match=message):
        parse_policy_overrides(table)


@pytest.mark.parametrize("kind", ["partner_key", "audit_entry"])
def test_the_trust_layers_own_records_cannot_be_released(kind: str) -> None:
    with pytest.raises(PartnersFileError, match="its own alone"):
        parse_policy_overrides({kind: "all_partners"})
