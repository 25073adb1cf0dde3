"""What readers' clicks on earlier issues say about each source (SPEC §7 rule 3a), pure.

Position 1 of a mail is clicked more whatever it holds, so an item's clicks are compared with what
its position gets on average: the share of an issue's clicks that each rank draws, pooled over
the issues seen and shrunk toward a 1/log2(rank + 1) curve while they are few. A source's prior is
(its clicks + PRIOR_CLICKS) / (the clicks its positions would draw + PRIOR_CLICKS): a source with
little evidence stays near 1, one whose items drew twice their positions' share moves toward 2.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

# Pseudo-clicks that hold every source at 1.0 until its own clicks outweigh them.
PRIOR_CLICKS = 20.0
# Pseudo-clicks of the default position curve when estimating the week's position shares.
CURVE_CLICKS = 200.0
# However clear the evidence, one source's stories are neither buried nor lifted beyond this.
PRIOR_RANGE = (0.25, 4.0)


class ClickRecord(NamedTuple):
    """One listed item of an earlier sent issue: its week, 1-based rank, source and clicks."""

    week: str
    rank: int
    source: str
    clicks: int


@lru_cache(maxsize=65_536)  # a week has a few hundred sources and tens of thousands of posts
def source_key(source: str) -> str:
    """How sources are matched: case and surrounding spaces do not make another source."""
    return source.strip().casefold()


def _default_share(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def _clicked_issues(records: Iterable[ClickRecord]) -> Iterator[tuple[list[ClickRecord], int]]:
    """Each issue's items with its total clicks; an issue nobody clicked says nothing."""
    by_week: dict[str, list[ClickRecord]] = defaultdict(list)
    for record in records:
        by_week[record.week].append(record)
    for items in by_week.values():
        total = sum(r.clicks for r in items)
        if total > 0:
            yield items, total


def position_shares(records: Iterable[ClickRecord]) -> dict[int, float]:
    """Relative click share of each rank (rank 1 = 1.0), pooled and shrunk toward the curve."""
    clicks: dict[int, float] = defaultdict(float)
    shown: dict[int, float] = defaultdict(float)
    for items, total in _clicked_issues(records):
        norm = sum(_default_share(r.rank) for r in items)
        for r in items:
            # This issue's clicks at r, and what the default curve would have given r here.
            clicks[r.rank] += r.clicks
            shown[r.rank] += total * _default_share(r.rank) / norm
    shares = {}
    for rank in sorted(set(shown) | {1}):
        curve = _default_share(rank)
        observed = clicks[rank] / shown[rank] if shown[rank] else 1.0
        weight = shown[rank] / (shown[rank] + CURVE_CLICKS)
        shares[rank] = curve * (weight * observed + (1 - weight))
    top = shares[1]
    return {rank: share / top for rank, share in shares.items()}


def source_click_priors(records: Iterable[ClickRecord]) -> dict[str, float]:
    """Per source (by `source_key`): clicks against what its positions draw, shrunk toward 1."""
    records = [r for r in records if r.rank >= 1 and r.clicks >= 0]
    shares = position_shares(records)
    got: dict[str, float] = defaultdict(float)
    expected: dict[str, float] = defaultdict(float)
    for items, total in _clicked_issues(records):
        norm = sum(shares.get(r.rank, _default_share(r.rank)) for r in items)
        for r in items:
            key = source_key(r.source)
            got[key] += r.clicks
            expected[key] += total * shares.get(r.rank, _default_share(r.rank)) / norm
    low, high = PRIOR_RANGE
    return {
        key: min(max((got[key] + PRIOR_CLICKS) / (expected[key] + PRIOR_CLICKS), low), high)
        for key in expected
    }
