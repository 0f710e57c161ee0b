"""Helpers shared by the benchmarks: latency percentiles and rich tables."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rich.console import Console
from rich.table import Table


class Percentiles(NamedTuple):
    p50: float
    p95: float
    p99: float


def percentiles(samples: Sequence[float]) -> Percentiles:
    """Nearest-rank p50, p95 and p99 of ``samples``, in their unit."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)

    def rank(percent: int) -> float:
        return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]

    return Percentiles(rank(50), rank(95), rank(99))


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    caption: str | None = None,
    console: Console | None = None,
) -> None:
    """Print ``rows`` under ``columns``: the first column left-aligned, the others right."""
    table = Table(title=title, caption=caption, caption_justify="left")
    for position, name in enumerate(columns):
        table.add_column(name, justify="left" if position == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    if console is None:
        # Piped to a file or a CI log: do not wrap at rich's default of 80 columns.
        console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
