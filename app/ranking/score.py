"""Pure weekly ranking (SPEC §7): eligibility, stories, importance, one story one slot, caps.

A post's value is its engagement judged against exposure (`app.ranking.engagement`); a post without
counters (polled from a feed) gets the week's median value, since missing counters say nothing.
That value is multiplied by what readers' clicks said of its source (`click_prior`) and the
editor's weight for the source. Posts are grouped into stories (`stories`); a story is worth
its best post's value times how widely and how long it was covered and how on-topic it is:

    story = best post × (1 + w·log2 outlets) × (1 + 0.08·(days covered − 1)) × topic strength

Outlets count independent sources: copies of one wire text count once. w is 0.5 for a story
without counters, where coverage is the week's main evidence (two outlets lift it 1.5×, four 2×,
sixteen 3×), and 0.25 when readers' counters already speak for it. A post with 100× the typical
reach and 3× the typical engagement rate is worth about 4× a typical one, so a viral post still
beats wide coverage of a minor event, and fifteen outlets without counters beat one post with
modest counters (tests/test_ranking.py; bench/rank_quality.py measures the mix).
"""

from __future__ import annotations

import gc
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from app.ranking.candidates import Candidate
from app.ranking.click_prior import source_key
from app.ranking.engagement import Prior, fit_prior, score, score_parts
from app.ranking.headlines import read_headline
from app.ranking.reasons import plain_summary
from app.ranking.stories import Headline, group_stories, headline_words
from app.weeks import require_aware, week_window

__all__ = ["Candidate", "Excluded", "RankedItem", "Ranking", "Rules", "is_on_topic", "rank"]

COVERAGE_WEIGHT = 0.5  # per doubling of independent outlets, for a story without counters
COVERAGE_WEIGHT_WITH_COUNTERS = 0.25  # the same when readers' counters speak for the story
SPREAD_WEIGHT = 0.08  # per extra day the story was in the news
TOPIC_WEIGHT, TOPIC_HITS_MAX = 0.05, 4  # per distinct on-topic word, counted up to 4
OUTLETS_SHOWN = 3  # outlets named in a summary sentence before "and N more"
# Outlet names and post ids kept in a listed story's stored reasons; counts stay exact. A story
# told by 5,000 copies must not store 5,000 ids with every draft.
NAMES_KEPT = 100


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


@dataclass(frozen=True)
class RankedItem:
    """One listed story: 1-based rank, its post, score, reasons, its other posts (best first)."""

    rank: int
    post_id: int
    score: float
    reasons: dict
    duplicates: tuple[int, ...] = ()


class Excluded(NamedTuple):
    """A post not listed and why (off-topic, already-sent, duplicate-of:<id>, below-cut, ...)."""

    post_id: int
    reason: str


@dataclass(frozen=True)
class Ranking:
    """The ranked week: listed items, excluded posts, and a note when the issue is short."""

    week: str
    items: list[RankedItem]
    excluded: list[Excluded] = field(default_factory=list)
    note: str | None = None
    engagement_data: bool = False  # whether any eligible post of the week carried counters


@lru_cache(maxsize=32)
def _keyword_pattern(topics: frozenset[str]) -> re.Pattern[str]:
    # Longest first so "electric vehicles" is tried before "electric"; an optional plural "s".
    words = sorted(topics, key=lambda t: (-len(t), t))
    body = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"\b(?:{body})s?\b", re.IGNORECASE)


def is_on_topic(c: Candidate, topics: frozenset[str]) -> bool:
    """Its topics meet `topics`; with no topics, a topic appears as whole words in title/summary."""
    if not topics:
        return True
    if c.topics:
        return any(t.strip().lower() in topics for t in c.topics)
    return _keyword_pattern(topics).search(f"{c.title}\n{c.summary}") is not None


def _ineligibility(c: Candidate, start: datetime, end: datetime, rules: Rules) -> str | None:
    if c.id in rules.drops:
        return "dropped"
    return _outside_rules(c, start, end, rules)


def _outside_rules(c: Candidate, start: datetime, end: datetime, rules: Rules) -> str | None:
    if not start <= c.published_at < end:
        return "outside-week"
    if c.id in rules.already_sent:
        return "already-sent"
    if not is_on_topic(c, rules.topics):
        return "off-topic"
    return None


_REASON_WORDS = {
    "already-sent": "already sent",
    "story-dropped": "in a story an editor dropped",
    "below-cut": "below the cut",
    "duplicate-of": "duplicates",
    "source-cap": "over the source cap",
}


def _note(week: str, listed: int, rules: Rules, excluded: list[Excluded], total: int) -> str | None:
    if listed >= rules.size:
        return None
    counts = Counter(e.reason.split(":", 1)[0] for e in excluded if e.reason != "pin-not-found")
    in_week = total - counts.pop("outside-week", 0)
    if in_week == 0 and listed == 0:
        return f"no posts published in {week}"
    detail = ", ".join(f"{n} {_REASON_WORDS.get(r, r)}" for r, n in sorted(counts.items()))
    if listed == 0:
        return f"{in_week} posts in {week}, none eligible: {detail}"
    return f"only {listed} of {rules.size} slots filled from {in_week} posts in {week}" + (
        f" ({detail})" if detail else ""
    )


@dataclass(slots=True)
class _Story:
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


def _post_values(
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


def _stories(eligible: list[Candidate], values: dict[int, float], rules: Rules) -> list[_Story]:
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
            _Story(
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


@dataclass
class _Selection:
    """The listed posts with their stories, and why the other posts are out."""

    listed: list[tuple[Candidate, _Story]] = field(default_factory=list)
    left_out: list[Excluded] = field(default_factory=list)


def _select(
    stories: list[_Story], pinned: list[Candidate], rules: Rules, dropped: dict[int, int]
) -> _Selection:
    """Pins first (their stories go with them), then stories in value order under the caps.

    `dropped` maps id(story) to a post of it an editor dropped: the editor dropped the story,
    so no other outlet's post of it takes the slot.
    """
    chosen = _Selection()
    story_of = {c.id: story for story in stories for c in story.posts}
    per_source = Counter(source_key(c.source) for c in pinned)
    taken: set[int] = set()
    pin_ids = {c.id for c in pinned}
    for c in pinned:
        chosen.listed.append((c, story_of[c.id]))
        taken.add(id(story_of[c.id]))
    for story in stories:
        if id(story) in taken:
            continue
        if id(story) in dropped:
            chosen.left_out += [
                Excluded(c.id, f"story-dropped:{dropped[id(story)]}")
                for c in story.posts
                if c.id not in pin_ids and c.id not in rules.drops
            ]
            continue
        full = len(chosen.listed) >= rules.size
        pick = (
            None
            if full
            else next(
                (
                    c
                    for c in story.posts
                    if per_source[source_key(c.source)] < rules.max_per_source
                    and rules.source_weights.get(source_key(c.source), 1.0) > 0
                ),
                None,
            )
        )
        if pick is None:
            reason = (
                "below-cut" if full or story.value <= 0 else (f"source-cap:{story.posts[0].source}")
            )
            chosen.left_out += [Excluded(c.id, reason) for c in story.posts if c.id not in pin_ids]
            continue
        per_source[source_key(pick.source)] += 1
        chosen.listed.append((pick, story))
        taken.add(id(story))
    listed_ids = {c.id for c, _ in chosen.listed}
    for pick, story in chosen.listed:
        chosen.left_out += [
            Excluded(c.id, f"duplicate-of:{pick.id}") for c in story.posts if c.id not in listed_ids
        ]
    return chosen


def _reasons(
    c: Candidate,
    story: _Story,
    *,
    pinned: bool,
    duplicates: list[int],
    neutral: float,
    prior: Prior,
    start: datetime,
    end: datetime,
    now: datetime,
    rules: Rules,
    click_priors: Mapping[str, float],
) -> dict:
    _, reasons = score(c, window_end=end, now=now, prior=prior)
    key = source_key(c.source)
    outlets = story.outlets
    reasons.update(
        has_metrics=c.has_metrics,
        engagement_value=round(reasons["score"] if c.has_metrics else neutral, 6),
        click_prior=round(click_priors[key], 3) if key in click_priors else None,
        source_weight=rules.source_weights.get(key, 1.0),
        coverage={
            "count": story.outlet_count,
            "sources": outlets[:NAMES_KEPT],
            "posts": len(story.posts),
        },
        also_in=[name for name in outlets[:NAMES_KEPT] if source_key(name) != key],
        days_covered=story.days,
        topic_hits=story.topic_hits,
        importance=round(story.importance, 4),
        score=round(story.value, 6),
        pinned=pinned,
        duplicates=duplicates[:NAMES_KEPT],
    )
    reasons["summary"] = plain_summary(reasons, c.source, prior=prior, shown=OUTLETS_SHOWN)
    return reasons


@contextmanager
def paused_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a week is loaded or ranked.

    Ranking makes hundreds of thousands of small objects and no reference cycles; the collector
    would rescan the whole heap again and again meanwhile (a third of the time of a 100k-post
    week, bench/rank.py). Plain reference counting still frees everything; collection resumes
    as soon as the ranking is done.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def rank(
    candidates: Iterable[Candidate],
    *,
    week: str,
    now: datetime,
    rules: Rules,
    click_priors: Mapping[str, float] | None = None,
) -> Ranking:
    """Rank a week's posts by SPEC §7: deterministic, every item with its score and reasons."""
    with paused_cycle_collection():
        return _rank(candidates, week=week, now=now, rules=rules, click_priors=click_priors)


def _rank(
    candidates: Iterable[Candidate],
    *,
    week: str,
    now: datetime,
    rules: Rules,
    click_priors: Mapping[str, float] | None,
) -> Ranking:
    require_aware(now, "now")
    start, end = week_window(week)
    click_priors = {source_key(s): p for s, p in (click_priors or {}).items()}
    pins = set(rules.pins)
    pool: dict[int, Candidate] = {}
    ineligible: list[Excluded] = []
    eligible: list[Candidate] = []
    dropped_posts: list[Candidate] = []  # they still tell which story an editor dropped
    for c in candidates:
        if c.id in pool:
            raise ValueError(f"post {c.id} appears twice in the candidates")
        pool[c.id] = c
        reason = _ineligibility(c, start, end, rules)
        if reason is None or (c.id in pins and reason != "dropped"):
            eligible.append(c)
        else:
            ineligible.append(Excluded(c.id, reason))
            if reason == "dropped" and _outside_rules(c, start, end, rules) is None:
                dropped_posts.append(c)
    ineligible.sort(key=lambda e: e.post_id)
    ineligible += [Excluded(pid, "pin-not-found") for pid in rules.pins if pid not in pool]

    with_metrics = [c for c in eligible if c.has_metrics]
    prior = fit_prior(with_metrics, window_end=end, now=now)
    values, neutral = _post_values(eligible + dropped_posts, prior, start, now, rules, click_priors)
    stories = _stories(eligible + dropped_posts, values, rules)
    dropped: dict[int, int] = {}
    if dropped_posts:
        for story in stories:
            hit = [c.id for c in story.posts if c.id in rules.drops]
            if not hit:
                continue
            dropped[id(story)] = hit[0]
            # A dropped post is out, whatever story it tells.
            kept = [
                (c, k)
                for c, k in zip(story.posts, story.origins, strict=True)
                if c.id not in rules.drops
            ]
            if kept:
                story.posts, story.origins = [c for c, _ in kept], [k for _, k in kept]
    pinned = [pool[pid] for pid in rules.pins if pid in pool]
    selection = _select(stories, pinned, rules, dropped)
    merged: dict[int, list[int]] = {c.id: [] for c, _ in selection.listed}
    for excluded in selection.left_out:
        kind, _, target = excluded.reason.partition(":")
        if kind == "duplicate-of":
            merged[int(target)].append(excluded.post_id)
    items = []
    for position, (c, story) in enumerate(selection.listed, start=1):
        reasons = _reasons(
            c,
            story,
            pinned=c.id in pins,
            duplicates=merged[c.id],
            neutral=neutral,
            prior=prior,
            start=start,
            end=end,
            now=now,
            rules=rules,
            click_priors=click_priors,
        )
        items.append(RankedItem(position, c.id, story.value, reasons, tuple(merged[c.id])))
    excluded = ineligible + selection.left_out
    note = _note(week, len(items), rules, excluded, len(pool))
    return Ranking(week, items, excluded, note, engagement_data=bool(with_metrics))
