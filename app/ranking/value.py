"""What a week's posts and stories are worth (the formula in `app.ranking.score`).

A post's value: its engagement, or the week's median without counters, times its source's click
prior and weight. A story's: its best post's value times its importance (independent outlets,
days in the news, on-topic words), computed on arrays over the whole week.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from app.ranking.candidates import Candidate
from app.ranking.click_prior import source_key
from app.ranking.engagement import Prior, score_parts
from app.ranking.headlines import read_headline
from app.ranking.rules import Rules
from app.ranking.stories import Headline, group_stories, headline_words

COVERAGE_WEIGHT = 0.5  # per doubling of independent outlets, for a story without counters
COVERAGE_WEIGHT_WITH_COUNTERS = 0.25  # the same when readers' counters speak for the story
SPREAD_WEIGHT = 0.08  # per extra day the story was in the news
TOPIC_WEIGHT, TOPIC_HITS_MAX = 0.05, 4  # per distinct on-topic word, counted up to 4


@dataclass(slots=True)
class Story:
    """The posts of one story in value order (best first) and what the week says of it."""

    posts: list[Candidate]
    origins: list[bool]  # whether each post is the first of its copies of one text
    value: float = 0.0
    outlet_count: int = 1  # independent sources: one per copy group, distinct by name
    days: int = 1
    counted: bool = False  # some post of it carries readers' counters
    topic_hits: int = 0
    importance: float = 1.0  # coverage × days in the news × topic strength

    @property
    def outlets(self) -> list[str]:
        """The independent sources' names, best post's first (one per copy group)."""
        names, seen = [], set()
        for c, origin in zip(self.posts, self.origins, strict=True):
            if origin and source_key(c.source) not in seen:
                seen.add(source_key(c.source))
                names.append(c.source.strip() or "(no source)")
        return names


def _topic_hits(c: Candidate, words: frozenset[str], topics: dict[str, tuple[str, ...]]) -> int:
    """How many of the on-topic words (`topics`: each with its tokens) the post names."""
    named = {t.strip().casefold() for t in c.topics} if c.topics else set()
    return sum(1 for topic, tokens in topics.items() if topic in named or words.issuperset(tokens))


def post_values(
    eligible: list[Candidate],
    prior: Prior,
    start: datetime,
    now: datetime,
    rules: Rules,
    click_priors: Mapping[str, float],
) -> tuple[dict[int, float], float]:
    """Each post's value (engagement, or the week's median without counters, × source factor)."""
    counted = [c for c in eligible if c.has_metrics]
    scores = score_parts(counted, start, now, prior).score.tolist() if counted else []
    engagement = dict(zip((c.id for c in counted), scores, strict=True))
    neutral = statistics.median(engagement.values()) if engagement else prior.typical_rate
    values = {c.id: engagement.get(c.id, neutral) for c in eligible}
    if click_priors or rules.source_weights:
        for c in eligible:
            key = source_key(c.source)
            values[c.id] *= click_priors.get(key, 1.0) * rules.source_weights.get(key, 1.0)
    return values, neutral


def valued_stories(
    eligible: list[Candidate], values: dict[int, float], rules: Rules
) -> list[Story]:
    """Group posts into stories and value each; best story first (ties: newer, then smaller id).

    Per-story figures are computed on arrays over the whole week: a 100k-post week has ~30k
    stories, and a Python loop over each cost more than the clustering.
    """
    if not eligible:
        return []
    headlines = [Headline(c.id, c.title, c.summary, c.source, c.published_at) for c in eligible]
    grouped = group_stories(headlines)
    label = np.asarray(grouped.story)
    value = np.array([values[c.id] for c in eligible])
    # On equal value, the post that tells the story as the others do speaks for it (a loosely
    # attached post must not stand for the story), then the original of a text.
    central = np.round(np.asarray(grouped.centrality), 6)
    published = np.array([c.published_at.timestamp() for c in eligible])
    post_id = np.array([c.id for c in eligible])
    order = np.lexsort((post_id, published, -central, -value, label))
    starts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    story_of = np.empty(len(order), dtype=np.int64)
    story_of[order] = np.repeat(np.arange(len(starts)), sizes)
    leads = order[starts]
    # Independent outlets: the earliest post of each copy group, then distinct sources.
    copies = np.asarray(grouped.copies)
    by_copy = np.lexsort((post_id, published, copies))
    origins = by_copy[np.r_[True, copies[by_copy][1:] != copies[by_copy][:-1]]]
    is_origin = np.zeros(len(eligible), dtype=bool)
    is_origin[origins] = True
    codes: dict[str, int] = {}
    source = np.array([codes.setdefault(source_key(c.source), len(codes)) for c in eligible])
    pairs = np.unique(story_of[origins] * (len(codes) + 1) + source[origins])
    outlet_count = np.bincount(pairs // (len(codes) + 1), minlength=len(starts))
    day_pairs = np.unique(story_of * 100_000 + (published // 86400 - published.min() // 86400))
    days = np.bincount((day_pairs // 100_000).astype(np.int64), minlength=len(starts))
    metrics = np.array([c.has_metrics for c in eligible], dtype=np.float64)
    counted = np.bincount(story_of, weights=metrics, minlength=len(starts)) > 0
    topic_tokens = {t: tokens for t in rules.topics if (tokens := read_headline(t).tokens)}
    hits = np.array(
        [
            min(
                _topic_hits(eligible[i], headline_words(headlines[i]), topic_tokens), TOPIC_HITS_MAX
            )
            for i in leads.tolist()
        ],
        dtype=np.float64,
    ).reshape(-1)
    # Readers' counters already say much of what wide coverage says; without them coverage is
    # the week's main evidence of what mattered.
    weight = np.where(counted, COVERAGE_WEIGHT_WITH_COUNTERS, COVERAGE_WEIGHT)
    importance = (
        (1 + weight * np.log2(np.maximum(outlet_count, 1)))
        * (1 + SPREAD_WEIGHT * (days - 1))
        * (1 + TOPIC_WEIGHT * hits)
    )
    story_value = value[leads] * importance
    ranked = np.lexsort((post_id[leads], -published[leads], -story_value))
    stories = []
    for k in ranked.tolist():
        members = order[starts[k] : starts[k] + sizes[k]].tolist()
        stories.append(
            Story(
                [eligible[i] for i in members],
                is_origin[members].tolist(),
                float(story_value[k]),
                int(outlet_count[k]),
                int(days[k]),
                bool(counted[k]),
                int(hits[k]),
                float(importance[k]),
            )
        )
    return stories
