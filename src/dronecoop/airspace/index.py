"""An in-memory 4D index of footprints: S2 cells x time envelope x altitude envelope.

Matching follows the SQL stores exactly: an entity matches a query footprint when they
share a cell, their time envelopes overlap inclusively (``a.start <= b.end and
a.end >= b.start``) and, unless altitudes are ignored, so do their altitude envelopes
(``None`` is unbounded on that side).

Layout, chosen by measurement (``bench/index.py``): each cell holds one growable numpy
array with a column per entity, ``(-time_start, time_end, -altitude_lower, altitude_upper,
slot)``. A query concatenates its cells' columns and keeps those that are ``>=`` the probe
``(-q.end, q.start, -q.upper, q.lower)`` in all four rows: a handful of numpy calls,
whatever the number of candidates. At 1M intents a dict of id sets with per-candidate
Python comparisons is ~10x slower: each candidate's record is a cache miss, whereas a
cell's columns are contiguous. Ids are only touched for matching columns, through their
slot (an entity's dense number, reused once freed).

Times are microseconds since the epoch held in float64: exact (integers below 2**53, up to
the year 2255), and compared as doubles, which CPython and numpy both do faster than
big ints.

Thread-safety: one lock around every method, queries included, so buckets are mutated in
place and a write costs O(its cells). Copy-on-write buckets would spare queries a lock
that costs them well under a microsecond, at the price of copying every bucket a write
touches (~40 us a put at 1M intents, more than the whole in-place put).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable
from datetime import datetime
from typing import cast

import numpy as np
import numpy.typing as npt

from dronecoop.airspace.model import Footprint, to_us

_INF = float("inf")
# Rows of a cell's columns. Start and lower altitude are negated so that one ``>=``
# against the probe tests all four overlap conditions.
_NEG_START, _END, _NEG_LOWER, _UPPER, _SLOT = range(5)
_ROWS = 5
_BOUNDS = slice(0, 4)
_MIN_CAPACITY = 4
# Expiry removes entities in batches, releasing the lock in between so queries go on.
_EXPIRE_BATCH = 128

Columns = npt.NDArray[np.float64]


def _us(moment: datetime) -> float:
    """Microseconds since the epoch, as a float (exact until 2255)."""
    return float(to_us(moment))


def _bound(value: float | None, unbounded: float) -> float:
    return unbounded if value is None else float(value)


def _column(footprint: Footprint, slot: int) -> tuple[float, float, float, float, float]:
    """The column ``footprint`` takes in each of its cells' buckets."""
    return (
        -_us(footprint.time_start),
        _us(footprint.time_end),
        -_bound(footprint.altitude_lower_w84_m, -_INF),
        _bound(footprint.altitude_upper_w84_m, _INF),
        float(slot),
    )


class _Bucket:
    """One cell's entities: the first ``count`` columns of ``columns``, in no order."""

    __slots__ = ("columns", "count")

    def __init__(self) -> None:
        self.columns: Columns = np.empty((_ROWS, _MIN_CAPACITY))
        self.count = 0

    def view(self) -> Columns:
        return self.columns[:, : self.count]

    def resize(self, capacity: int) -> None:
        resized = np.empty((_ROWS, capacity))
        resized[:, : self.count] = self.columns[:, : self.count]
        self.columns = resized


class FootprintIndex:
    """Entities by id, each with a ``Footprint``; finds those meeting a footprint in 4D."""

    __slots__ = ("_cells", "_free", "_lock", "_slot_cells", "_slot_ends_us", "_slot_ids", "_slots")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[int, _Bucket] = {}
        self._slots: dict[str, int] = {}
        # Per slot: the id, or None once freed;
        self._slot_ids: list[str | None] = []
        # its n cells, then the n positions of its column in those cells' buckets;
        self._slot_cells: list[array[int]] = []
        # its time_end (+inf once freed), so that expiry is one vectorised scan.
        self._slot_ends_us: Columns = np.full(_MIN_CAPACITY, _INF)
        self._free: list[int] = []

    @classmethod
    def from_items(cls, items: Iterable[tuple[str, Footprint]]) -> FootprintIndex:
        """An index of ``items`` (a repeated id: the last wins), built in bulk for start-up.

        About 3x faster than a ``put`` each: buckets are cut from one array sorted by cell
        instead of growing column by column.
        """
        index = cls()
        slots, slot_ids = index._slots, index._slot_ids
        columns: list[tuple[float, float, float, float, float]] = []
        cells: list[int] = []  # every entity's cells, one after the other
        counts: list[int] = []
        repeated: list[tuple[str, Footprint]] = []
        for entity_id, footprint in items:
            if entity_id in slots:
                repeated.append((entity_id, footprint))
                continue
            slot = slots[entity_id] = len(slot_ids)
            slot_ids.append(entity_id)
            columns.append(_column(footprint, slot))
            cells.extend(footprint.cells)
            counts.append(len(footprint.cells))
        if columns:
            index._load(np.array(columns).T, cells, counts)
        for entity_id, footprint in repeated:
            index.put(entity_id, footprint)
        return index

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._slots

    def put(self, entity_id: str, footprint: Footprint) -> None:
        """Insert ``entity_id`` with ``footprint``, or replace its footprint."""
        column = np.array(_column(footprint, slot=0))
        cells = footprint.cells
        count = len(cells)
        placed = array("q", cells)  # checks every id fits int64 before anything changes
        placed.extend(placed)  # placeholders for the positions
        with self._lock:
            slot = self._slots.get(entity_id)
            if slot is None:
                slot = self._allocate(entity_id)
                kept: dict[int, int] = {}
            else:
                previous = self._slot_cells[slot]
                half = len(previous) // 2
                kept = dict(zip(previous[:half], previous[half:], strict=True))
            column[_SLOT] = slot
            for k, cell in enumerate(cells):
                at = kept.pop(cell, None)
                if at is None:
                    at = self._append(cell, column)
                else:
                    self._cells[cell].columns[:, at] = column
                placed[count + k] = at
            for cell, at in kept.items():  # the cells it left
                self._delete(cell, at)
            self._slot_cells[slot] = placed
            self._slot_ends_us[slot] = column[_END]

    def remove(self, entity_id: str) -> None:
        """Forget ``entity_id``; an absent id is ignored, so deletes can be mirrored blindly."""
        with self._lock:
            slot = self._slots.get(entity_id)
            if slot is not None:
                self._release(slot)

    def query(
        self, footprint: Footprint, *, altitudes: bool = True, now: datetime | None = None
    ) -> list[str]:
        """Ids, sorted, of the entities meeting ``footprint`` (see the module docstring).

        ``altitudes=False`` ignores altitude envelopes (as subscription notification does);
        ``now`` also drops entities whose time envelope ended before it.
        """
        if not footprint.cells:
            return []
        start_us = _us(footprint.time_start)
        if now is not None:
            start_us = max(start_us, _us(now))
        lower, upper = -_INF, _INF
        if altitudes:
            lower = _bound(footprint.altitude_lower_w84_m, -_INF)
            upper = _bound(footprint.altitude_upper_w84_m, _INF)
        probe = np.array([[-_us(footprint.time_end)], [start_us], [-upper], [lower]])
        with self._lock:
            get = self._cells.get
            views = [bucket.view() for bucket in map(get, footprint.cells) if bucket is not None]
            if not views:
                return []
            columns = views[0] if len(views) == 1 else np.concatenate(views, axis=1)
            hits = (columns[_BOUNDS] >= probe).all(axis=0)
            slots: list[int] = columns[_SLOT, hits].astype(np.int64).tolist()
            ids = cast("list[str]", self._slot_ids)  # a slot in a bucket is live
            # A set: an entity sharing several cells with the query shows up once per cell.
            found = {ids[slot] for slot in slots}
        return sorted(found)

    def expire(self, before: datetime) -> list[str]:
        """Remove the entities whose time envelope ended before ``before``; return their ids."""
        cutoff_us = _us(before)
        with self._lock:
            candidates: list[int] = np.flatnonzero(self._slot_ends_us < cutoff_us).tolist()
        removed: list[str] = []
        for first in range(0, len(candidates), _EXPIRE_BATCH):
            with self._lock:
                for slot in candidates[first : first + _EXPIRE_BATCH]:
                    # Checked again: the slot may have been replaced or freed since the scan.
                    entity_id = self._slot_ids[slot]
                    if entity_id is not None and self._slot_ends_us[slot] < cutoff_us:
                        self._release(slot)
                        removed.append(entity_id)
        removed.sort()
        return removed

    # -- internals; callers hold the lock ------------------------------------------------
    def _load(self, table: Columns, cells: list[int], counts: list[int]) -> None:
        """Fill an empty index: ``table[:, slot]`` is each slot's column, ``cells`` their cells."""
        pair_cells = np.array(cells, dtype=np.int64)
        # Each (entity, cell) pair's position in its cell's bucket.
        positions = np.empty(len(pair_cells), dtype=np.int64)
        if len(pair_cells):
            order = np.argsort(pair_cells, kind="stable")
            by_cell = pair_cells[order]
            firsts = np.flatnonzero(np.r_[True, by_cell[1:] != by_cell[:-1]])
            lasts = np.r_[firsts[1:], len(order)]
            positions[order] = np.arange(len(order)) - np.repeat(firsts, lasts - firsts)
            gathered = table[:, np.repeat(np.arange(len(counts)), counts)[order]]
            for cell, first, last in zip(
                by_cell[firsts].tolist(), firsts.tolist(), lasts.tolist(), strict=True
            ):
                bucket = self._cells[cell] = _Bucket()
                bucket.columns = gathered[:, first:last].copy()
                bucket.count = last - first
        all_cells, all_positions = array("q", cells), array("q", positions.tobytes())
        at = 0
        for count in counts:
            self._slot_cells.append(all_cells[at : at + count] + all_positions[at : at + count])
            at += count
        self._slot_ends_us = np.r_[table[_END], np.full(_MIN_CAPACITY, _INF)]

    def _allocate(self, entity_id: str) -> int:
        if self._free:
            slot = self._free.pop()
            self._slot_ids[slot] = entity_id
        else:
            slot = len(self._slot_ids)
            self._slot_ids.append(entity_id)
            self._slot_cells.append(_NOWHERE)
            if slot == len(self._slot_ends_us):
                grown = np.full(2 * slot, _INF)
                grown[:slot] = self._slot_ends_us
                self._slot_ends_us = grown
        self._slots[entity_id] = slot
        return slot

    def _release(self, slot: int) -> None:
        placed = self._slot_cells[slot]
        half = len(placed) // 2
        for cell, at in zip(placed[:half], placed[half:], strict=True):
            self._delete(cell, at)
        entity_id = self._slot_ids[slot]
        assert entity_id is not None
        del self._slots[entity_id]
        self._slot_ids[slot] = None
        self._slot_cells[slot] = _NOWHERE
        self._slot_ends_us[slot] = _INF
        self._free.append(slot)

    def _append(self, cell: int, column: Columns) -> int:
        """Add ``column`` to ``cell``'s bucket; return its position there."""
        bucket = self._cells.get(cell)
        if bucket is None:
            bucket = self._cells[cell] = _Bucket()
        at = bucket.count
        if at == bucket.columns.shape[1]:
            bucket.resize(2 * at)
        bucket.columns[:, at] = column
        bucket.count = at + 1
        return at

    def _delete(self, cell: int, at: int) -> None:
        """Drop column ``at`` of ``cell``'s bucket: the last column moves into its place."""
        bucket = self._cells[cell]
        columns = bucket.columns
        last = bucket.count - 1
        if at != last:
            columns[:, at] = columns[:, last]
            placed = self._slot_cells[int(columns[_SLOT, at])]
            half = len(placed) // 2
            placed[half + placed.index(cell, 0, half)] = at
        bucket.count = last
        capacity = columns.shape[1]
        if not last:
            del self._cells[cell]
        elif capacity > _MIN_CAPACITY and last <= capacity // 4:
            bucket.resize(capacity // 2)


_NOWHERE: array[int] = array("q")
