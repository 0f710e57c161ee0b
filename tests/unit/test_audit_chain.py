"""The audit chain detects any edit, deletion, reordering or truncation, and says where."""

from __future__ import annotations

import inspect
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dronecoop.airspace.model import from_us
from dronecoop.store.audit_sql import AUDIT_COLUMNS, audit_values
from dronecoop.trust.audit import (
    GENESIS,
    AuditEntry,
    AuditEvent,
    chain,
    digest_of,
    event_digest,
    stored_event_digest,
    verify_chain,
)
from tests.strategies import audit_events

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def event(i: int) -> AuditEvent:
    return AuditEvent(
        partner="rok-army" if i % 2 else "us-army",
        actor=f"planner-{i}",
        action="dss.operational_intent.create",
        target_kind="operational_intent",
        target_id=f"id-{i}",
        before_digest=None,
        after_digest=digest_of({"n": i}),
        at=T0 + timedelta(seconds=i),
    )


def build(events: list[AuditEvent]) -> list[AuditEntry]:
    entries, previous = [], GENESIS
    for seq, ev in enumerate(events, start=1):
        previous = chain(previous, event_digest(ev))
        entries.append(AuditEntry(seq=seq, event=ev, hash=previous))
    return entries


def head_of(entries: list[AuditEntry]) -> tuple[int, bytes]:
    return (entries[-1].seq, entries[-1].hash) if entries else (0, GENESIS)


LOG = build([event(i) for i in range(1, 11)])


def test_an_untouched_chain_verifies_up_to_its_head() -> None:
    report = verify_chain(LOG, head=head_of(LOG))
    assert report.ok
    assert (report.entries, report.head_seq, report.head_hash) == (10, 10, LOG[-1].hash)


def test_an_empty_log_verifies_against_the_genesis_head() -> None:
    assert verify_chain([], head=(0, GENESIS)).ok


def test_an_edited_entry_is_found_at_its_sequence_number() -> None:
    tampered = list(LOG)
    tampered[4] = replace(LOG[4], event=replace(LOG[4].event, actor="mallory"))
    report = verify_chain(tampered, head=head_of(LOG))
    assert not report.ok
    assert report.first_bad_seq == 5
    assert "entry 5" in report.problem


def test_an_entry_edited_together_with_its_hash_breaks_the_next_link() -> None:
    edited = replace(LOG[4].event, target_id="elsewhere")
    tampered = list(LOG)
    tampered[4] = AuditEntry(5, edited, chain(LOG[3].hash, event_digest(edited)))
    report = verify_chain(tampered, head=head_of(LOG))
    assert report.first_bad_seq == 6


def test_a_deleted_entry_is_reported_missing() -> None:
    report = verify_chain(LOG[:3] + LOG[4:], head=head_of(LOG))
    assert report.first_bad_seq == 4
    assert "missing" in report.problem


def test_reordered_entries_are_detected() -> None:
    swapped = [*LOG[:2], LOG[3], LOG[2], *LOG[4:]]
    report = verify_chain(swapped, head=head_of(LOG))
    assert not report.ok
    assert report.first_bad_seq == 3


def test_renumbered_reordered_entries_are_detected_by_their_hashes() -> None:
    a, b = LOG[2], LOG[3]
    swapped = [*LOG[:2], replace(b, seq=3), replace(a, seq=4), *LOG[4:]]
    assert verify_chain(swapped, head=head_of(LOG)).first_bad_seq == 3


def test_a_truncated_tail_is_detected_by_the_head() -> None:
    report = verify_chain(LOG[:7], head=head_of(LOG))
    assert not report.ok
    assert "truncated" in report.problem
    assert report.head_seq == 7  # the part that is still intact


def test_a_rewritten_chain_is_caught_by_an_anchor_kept_elsewhere() -> None:
    anchor = (LOG[5].seq, LOG[5].hash)
    forged = build(
        [replace(event(i), actor="mallory") if i == 3 else event(i) for i in range(1, 11)]
    )
    assert verify_chain(forged, head=head_of(forged)).ok  # self-consistent on its own
    report = verify_chain(forged, head=head_of(forged), anchor=anchor)
    assert not report.ok
    assert report.first_bad_seq == 6
    assert "anchor" in report.problem


def test_a_chain_cut_before_its_anchor_fails() -> None:
    report = verify_chain(LOG[:4], head=head_of(LOG[:4]), anchor=(LOG[8].seq, LOG[8].hash))
    assert not report.ok
    assert "before the anchor" in report.problem


@given(
    events=st.lists(audit_events(), min_size=1, max_size=12),
    data=st.data(),
)
def test_any_single_field_change_anywhere_is_detected(
    events: list[AuditEvent], data: st.DataObject
) -> None:
    entries = build(events)
    at = data.draw(st.integers(0, len(entries) - 1))
    field = data.draw(st.sampled_from(["partner", "actor", "action", "target_id", "at"]))
    original = entries[at].event
    new_value: object = (
        original.at + timedelta(microseconds=1) if field == "at" else f"{getattr(original, field)}x"
    )
    tampered = list(entries)
    tampered[at] = replace(entries[at], event=replace(original, **{field: new_value}))
    report = verify_chain(tampered, head=head_of(entries))
    assert not report.ok
    assert report.first_bad_seq == at + 1


@pytest.mark.parametrize(
    ("value", "same"),
    [
        ({"b": 1, "a": 2}, {"a": 2, "b": 1}),
        (frozenset({3, 1, 2}), [1, 2, 3]),
    ],
)
def test_digests_do_not_depend_on_key_or_set_order(value: object, same: object) -> None:
    assert digest_of(value) == digest_of(same)


def planner_event(at: datetime) -> AuditEvent:
    return AuditEvent(
        partner="rok-army",
        actor="planner-7",
        action="dss.operational_intent.create",
        target_kind="operational_intent",
        target_id="id-7",
        before_digest=None,
        after_digest="ab" * 32,
        at=at,
    )


def test_an_event_digest_is_the_one_chains_sealed_earlier_hold() -> None:
    # Pinned (the value the implementation before the orjson fast path gave): a change to
    # how events are digested would break every chain already sealed.
    ev = planner_event(datetime(2030, 5, 1, 9, 0, 0, 123456, tzinfo=UTC))
    assert event_digest(ev).hex() == (
        "d2190c722eb36fd9df3ed294d72e0e32926d0b7402f153bbf055ed213626b10a"
    )


@given(audit_events())
def test_an_event_read_back_as_stored_values_digests_as_the_event_did(ev: AuditEvent) -> None:
    # The sealer digests rows as read, the verifier events rebuilt from them: both must agree.
    assert stored_event_digest(*audit_values(ev)) == event_digest(ev)


@given(st.integers(min_value=-(2**55), max_value=253_402_300_799_999_999))  # to 9999-12-31
def test_a_stored_time_digests_as_the_event_rebuilt_from_it_at_any_date(at_us: int) -> None:
    # Far from the epoch a float timestamp loses the microsecond; the integer must not.
    ev = planner_event(from_us(at_us))
    assert stored_event_digest(*audit_values(ev)) == event_digest(ev)


def test_the_stored_digest_covers_every_event_field_in_the_tables_column_order() -> None:
    parameters = list(inspect.signature(stored_event_digest).parameters)
    assert parameters == [c.strip() for c in AUDIT_COLUMNS.split(",")]
    assert {p.removesuffix("_us") for p in parameters} == {f.name for f in fields(AuditEvent)}
