"""What the editor and settings decide for a week's ranking (`Rules`), checked when made."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.ranking.click_prior import source_key


@dataclass(frozen=True)
class Rules:
    """What the editor and settings decide: on-topic words, caps, size, pins, drops, sent posts.

    Pins are always listed, first and in pin order, even when off-topic, already sent, outside
    the week or over the source cap (the editor chose them); they still use up their source's
    slots for the other posts. All pins are listed even if there are more than `size`.
    Drops are never listed. A post both pinned and dropped is a contradiction: ValueError.
    An empty `topics` set means no topic filter. `source_weights` (default 1 per source)
    multiply a source's posts' value; 0 keeps its stories out unless pinned.
    """

    topics: frozenset[str]
    max_per_source: int = 3
    size: int = 10
    pins: tuple[int, ...] = ()
    drops: frozenset[int] = frozenset()
    already_sent: frozenset[int] = frozenset()
    source_weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        topics = frozenset(t.strip().lower() for t in self.topics) - {""}
        object.__setattr__(self, "topics", topics)
        object.__setattr__(self, "pins", tuple(self.pins))
        object.__setattr__(self, "drops", frozenset(self.drops))
        object.__setattr__(self, "already_sent", frozenset(self.already_sent))
        weights = {source_key(s): float(w) for s, w in dict(self.source_weights).items()}
        if any(not math.isfinite(w) or w < 0 for w in weights.values()):
            raise ValueError("source weights must be finite and not negative")
        object.__setattr__(self, "source_weights", weights)
        if self.size < 1 or self.max_per_source < 1:
            raise ValueError("size and max_per_source must be at least 1")
        if len(set(self.pins)) != len(self.pins):
            raise ValueError("a post is pinned twice")
        both = set(self.pins) & self.drops
        if both:
            raise ValueError(f"posts both pinned and dropped: {sorted(both)}")
