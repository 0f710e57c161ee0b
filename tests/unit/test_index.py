"""FootprintIndex: the in-memory 4D index must answer exactly as a scan of every entity."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dronecoop.airspace.index import FootprintIndex
from dronecoop.airspace.model import Footprint

properties = settings(max_examples=200, deadline=None)

T0 = datetime(2030, 1, 1, 6, tzinfo=UTC)
STEP = timedelta(minutes=15)
# A few cells, extreme signed ids included, so that footprints share cells often.
CELL_POOL = (-(1 << 63), -5, 0, 7, 3_870_000_000_000_000_000, (1 << 63) - 1)
# Altitudes and times on coarse grids (plus a microsecond) so that bounds touch often.
ALTITUDES_W84_M = (-10.0, 0.0, 50.0, 120.0, 400.0)
ENTITY_IDS = tuple(f"op-{n}" for n in range(12))


@st.composite
def footprints(draw: st.DrawFn) -> Footprint:
    cells = draw(st.frozensets(st.sampled_from(CELL_POOL), max_size=4))
    start_step, end_step = sorted(draw(st.lists(st.integers(0, 12), min_size=2, max_size=2)))
    nudge = timedelta(microseconds=draw(st.sampled_from((0, 0, 1))))
    # Now and then a window long enough for the index to file it apart (or query widely).
    nudge += draw(st.sampled_from((timedelta(0),) * 4 + (timedelta(hours=13), timedelta(days=3))))
    altitude = st.none() | st.sampled_from(ALTITUDES_W84_M)
    lower, upper = draw(altitude), draw(altitude)
    if lower is not None and upper is not None and lower > upper:
        lower, upper = upper, lower
    return Footprint(
        cells=cells,
        time_start=T0 + start_step * STEP,
        time_end=T0 + end_step * STEP + nudge,
        altitude_lower_w84_m=lower,
        altitude_upper_w84_m=upper,
    )


def moments() -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda step, micros: T0 + step * STEP + timedelta(microseconds=micros),
        st.integers(-1, 13),
        st.sampled_from((-1, 0, 1)),
    )


def meets(
    entity: Footprint, area: Footprint, *, altitudes: bool = True, now: datetime | None = None
) -> bool:
    """The brute-force rule, written as the SQL stores write it."""
    if not entity.cells & area.cells:
        return False
    if entity.time_start > area.time_end or entity.time_end < area.time_start:
        return False
    if now is not None and entity.time_end < now:
        return False
    if not altitudes:
        return True
    below = (
        entity.altitude_lower_w84_m is not None
        and area.altitude_upper_w84_m is not None
        and entity.altitude_lower_w84_m > area.altitude_upper_w84_m
    )
    above = (
        entity.altitude_upper_w84_m is not None
        and area.altitude_lower_w84_m is not None
        and entity.altitude_upper_w84_m < area.altitude_lower_w84_m
    )
    return not (below or above)


def scan(
    entities: dict[str, Footprint],
    area: Footprint,
    *,
    altitudes: bool = True,
    now: datetime | None = None,
) -> list[str]:
    return sorted(
        entity_id
        for entity_id, footprint in entities.items()
        if meets(footprint, area, altitudes=altitudes, now=now)
    )


def footprint(*cells: int, start: int = 0, end: int = 4, lower: float | None = None) -> Footprint:
    return Footprint(frozenset(cells), T0 + start * STEP, T0 + end * STEP, lower, None)


@properties
@given(
    puts=st.lists(st.tuples(st.sampled_from(ENTITY_IDS), footprints()), max_size=40),
    removals=st.lists(st.sampled_from(ENTITY_IDS), max_size=6),
    area=footprints(),
    altitudes=st.booleans(),
    now=st.none() | moments(),
)
def test_query_returns_exactly_what_a_scan_of_every_entity_returns(
    puts, removals, area, altitudes, now
):
    one_by_one = FootprintIndex()
    for entity_id, fp in puts:
        one_by_one.put(entity_id, fp)
    in_bulk = FootprintIndex.from_items(puts)
    entities = dict(puts)
    for entity_id in removals:
        one_by_one.remove(entity_id)
        in_bulk.remove(entity_id)
        entities.pop(entity_id, None)

    expected = scan(entities, area, altitudes=altitudes, now=now)
    for index in (one_by_one, in_bulk):
        assert index.query(area, altitudes=altitudes, now=now) == expected
        assert len(index) == len(entities)


class IndexAgainstScan(RuleBasedStateMachine):
    """Any interleaving of puts, removes and expiries keeps the index equal to a scan."""

    def __init__(self) -> None:
        super().__init__()
        self.index = FootprintIndex()
        self.entities: dict[str, Footprint] = {}

    @rule(entity_id=st.sampled_from(ENTITY_IDS), fp=footprints())
    def put(self, entity_id, fp):
        self.index.put(entity_id, fp)
        self.entities[entity_id] = fp

    @rule(entity_id=st.sampled_from(ENTITY_IDS))
    def remove(self, entity_id):
        self.index.remove(entity_id)
        self.entities.pop(entity_id, None)

    @rule(before=moments())
    def expire(self, before):
        ended = sorted(i for i, fp in self.entities.items() if fp.time_end < before)
        assert self.index.expire(before) == ended
        for entity_id in ended:
            del self.entities[entity_id]

    @rule(area=footprints(), altitudes=st.booleans())
    def query(self, area, altitudes):
        expected = scan(self.entities, area, altitudes=altitudes)
        assert self.index.query(area, altitudes=altitudes) == expected

    @invariant()
    def sizes_agree(self):
        assert len(self.index) == len(self.entities)


TestIndexAgainstScan = IndexAgainstScan.TestCase
TestIndexAgainstScan.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)


def test_put_of_a_known_id_replaces_its_footprint():
    index = FootprintIndex()
    index.put("op-1", footprint(1, 2))
    index.put("op-1", footprint(2, 3, start=8, end=9))

    assert len(index) == 1
    assert index.query(footprint(1)) == []
    assert index.query(footprint(2)) == []  # same cell, old time window
    assert index.query(footprint(2, start=8, end=8)) == ["op-1"]
    assert index.query(footprint(3, start=9, end=12)) == ["op-1"]


def test_bulk_load_keeps_the_last_footprint_of_a_repeated_id_and_takes_later_puts():
    index = FootprintIndex.from_items(
        [("op-1", footprint(1)), ("op-2", footprint(1, 2)), ("op-1", footprint(3))]
    )
    index.put("op-3", footprint(2))
    index.remove("op-2")

    assert len(index) == 2
    assert index.query(footprint(1, 2, 3)) == ["op-1", "op-3"]
    assert index.query(footprint(1)) == []


def test_removed_entity_is_never_found_and_removing_an_unknown_id_is_ignored():
    index = FootprintIndex()
    index.put("op-1", footprint(1))
    index.put("op-2", footprint(1))
    index.remove("op-1")
    index.remove("op-unknown")

    assert index.query(footprint(1)) == ["op-2"]
    assert "op-1" not in index
    assert len(index) == 1


def test_entity_sharing_several_cells_with_the_query_is_returned_once():
    index = FootprintIndex()
    index.put("op-1", footprint(1, 2, 3))

    assert index.query(footprint(1, 2, 3)) == ["op-1"]


def test_intervals_touching_at_one_instant_overlap():
    index = FootprintIndex()
    index.put("op-1", footprint(1, start=0, end=4))

    assert index.query(footprint(1, start=4, end=8)) == ["op-1"]
    assert index.query(footprint(1, start=-4, end=0)) == ["op-1"]


def test_altitude_envelopes_are_ignored_when_asked():
    index = FootprintIndex()
    index.put("op-1", footprint(1, lower=500.0))
    low_area = Footprint(frozenset({1}), T0, T0 + STEP, 0.0, 100.0)

    assert index.query(low_area) == []
    assert index.query(low_area, altitudes=False) == ["op-1"]


def test_expire_removes_entities_ended_strictly_before_the_cutoff():
    index = FootprintIndex()
    index.put("op-early", footprint(1, end=2))
    index.put("op-edge", footprint(1, end=4))
    index.put("op-late", footprint(2, end=8))

    assert index.expire(T0 + 4 * STEP) == ["op-early"]
    assert index.query(footprint(1, 2)) == ["op-edge", "op-late"]
    assert index.expire(T0 + 9 * STEP) == ["op-edge", "op-late"]
    assert len(index) == 0


def test_many_entities_in_one_cell_grow_and_shrink_its_bucket():
    index = FootprintIndex()
    ids = [f"op-{n:04d}" for n in range(1000)]
    for n, entity_id in enumerate(ids):
        index.put(entity_id, footprint(1, start=n % 8, end=n % 8))
    for entity_id in ids[:990]:
        index.remove(entity_id)

    assert index.query(footprint(1, start=0, end=8)) == ids[990:]
    index.put("op-new", footprint(1))  # a freed slot is reused
    assert index.query(footprint(1, start=0, end=0)) == ["op-0992", "op-new"]


def test_naive_datetimes_are_refused():
    with pytest.raises(TypeError):
        FootprintIndex().put("op-1", Footprint(frozenset({1}), datetime(2030, 1, 1), T0))  # noqa: DTZ001


def test_queries_during_concurrent_puts_see_only_whole_entities():
    index = FootprintIndex()
    stable = {f"op-{n}": footprint(1, 2) for n in range(50)}
    for entity_id, fp in stable.items():
        index.put(entity_id, fp)
    stop = threading.Event()
    failures: list[BaseException] = []

    def churn() -> None:
        try:
            n = 0
            while not stop.is_set():
                # Moves between cells 2 and 3; temporary ones come and go in cells 1 and 3.
                index.put("op-moving", footprint(2 + n % 2, start=n % 3))
                index.put(f"op-temp-{n % 7}", footprint(1, 3))
                index.remove(f"op-temp-{(n + 3) % 7}")
                n += 1
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        for _ in range(2000):
            found = set(index.query(footprint(1, start=0, end=8)))
            assert set(stable) <= found
            assert found - set(stable) <= {f"op-temp-{n}" for n in range(7)}
            moving = index.query(footprint(3, start=0, end=8))
            assert set(moving) <= {"op-moving"} | {f"op-temp-{n}" for n in range(7)}
    finally:
        stop.set()
        writer.join()
    assert not failures
