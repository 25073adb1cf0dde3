"""Pure weekly ranking (SPEC §7): eligibility, shrunk engagement score, one story one slot, caps."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from app.stories import StoryTitle, story_matches, story_title
from app.weeks import require_aware, week_window

# Shares and comments cost a reader more effort than a like, so they say more about value.
ENGAGEMENT_WEIGHTS = {"likes": 1.0, "comments": 2.0, "shares": 3.0}
# Below this many views a post's own rate is too noisy to help fit the week's prior.
MIN_EVIDENCE_VIEWS = 100
# Prior strength in pseudo-views: fewer than ~100 views never outweighs the week's typical rate.
MIN_PSEUDO_VIEWS, MAX_PSEUDO_VIEWS, DEFAULT_PSEUDO_VIEWS = 100.0, 5000.0, 300.0
DEFAULT_TYPICAL_RATE = 0.02
# A post live for minutes is judged as if live this long, so a lucky first hour cannot explode.
MIN_HOURS_LIVE = 12.0
# Reach enters as log10(10 + views) ** 0.75: it helps, but a 200x larger audience only lifts a
# score about 1.7x, so a post shown far more cannot win on exposure alone (bench/rank_quality.py).
REACH_EXPONENT = 0.75
# A post may claim a rate above the week's typical one only in proportion to its views: up to 3
# interquartile ranges (Tukey's far-out distance) at MIN_EVIDENCE_VIEWS views, 1.2 at 40 views.
# A tiny audience is mostly the author's own circle, not independent readers, so the binomial
# prior alone still let a 40-view post at 50 % likes top a 20,000-view story (SPEC §7 rule 2,
# the app/demo traps). Well-viewed posts are untouched, so bench/rank_quality.py does not move.
CLAIM_IQRS = 3.0
# No usable quartiles (too few well-observed posts, or most alike): spread = the pooled rate.
FALLBACK_SPREAD = 1.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A post of the week as ranking sees it; `published_at` must be timezone-aware."""

    id: int
    url: str
    title: str
    summary: str
    source: str
    topics: tuple[str, ...]
    published_at: datetime
    views: int
    likes: int
    shares: int
    comments: int

    def __post_init__(self) -> None:
        require_aware(self.published_at, f"post {self.id} published_at")
        for name in ("views", "likes", "shares", "comments"):
            if getattr(self, name) < 0:
                raise ValueError(f"post {self.id}: {name} cannot be negative")


@dataclass(frozen=True)
class Rules:
    """What the editor and settings decide: on-topic words, caps, size, pins, drops, sent posts.

    Pins are always listed, first and in pin order, even when off-topic, already sent, outside
    the week or over the source cap (the editor chose them); they still use up their source's
    slots for the other posts. All pins are listed even if there are more than `size`.
    Drops are never listed. A post both pinned and dropped is a contradiction: ValueError.
    An empty `topics` set means no topic filter.
    """

    topics: frozenset[str]
    max_per_source: int = 3
    size: int = 10
    pins: tuple[int, ...] = ()
    drops: frozenset[int] = frozenset()
    already_sent: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        topics = frozenset(t.strip().lower() for t in self.topics) - {""}
        object.__setattr__(self, "topics", topics)
        object.__setattr__(self, "pins", tuple(self.pins))
        object.__setattr__(self, "drops", frozenset(self.drops))
        object.__setattr__(self, "already_sent", frozenset(self.already_sent))
        if self.size < 1 or self.max_per_source < 1:
            raise ValueError("size and max_per_source must be at least 1")
        if len(set(self.pins)) != len(self.pins):
            raise ValueError("a post is pinned twice")
        both = set(self.pins) & self.drops
        if both:
            raise ValueError(f"posts both pinned and dropped: {sorted(both)}")


@dataclass(frozen=True)
class Prior:
    """The week's typical rate, its strength in pseudo-views, typical reach, rates' IQR."""

    typical_rate: float = DEFAULT_TYPICAL_RATE
    pseudo_views: float = DEFAULT_PSEUDO_VIEWS
    typical_reach: float = 0.0
    rate_spread: float = math.inf  # IQR of well-observed rates; inf lets any rate count


@dataclass(frozen=True)
class RankedItem:
    """One listed post: its 1-based rank, score, readable reasons and merged duplicates."""

    rank: int
    post_id: int
    score: float
    reasons: dict
    duplicates: tuple[int, ...] = ()


@dataclass(frozen=True)
class Excluded:
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


def _views(c: Candidate) -> int:
    # Every like, share or comment came from someone who saw the post; a source that reports
    # engagement but no views must not look like an infinite engagement rate.
    return max(c.views, c.likes + c.shares + c.comments)


def _weighted_engagement(c: Candidate, power: int = 1) -> float:
    # power=2 gives the Poisson variance of the weighted count, used to fit the prior.
    w = ENGAGEMENT_WEIGHTS
    likes, comments, shares = (w[k] ** power for k in ("likes", "comments", "shares"))
    return likes * c.likes + comments * c.comments + shares * c.shares


def _age_adjustment(c: Candidate, window_start: datetime, now: datetime) -> float:
    # Counters are read at `now`, so exposure runs to now (not to the window's end): a post
    # published late had fewer hours to gather views than the week's earliest posts.
    reference = max((now - window_start).total_seconds() / 3600, MIN_HOURS_LIVE)
    hours_live = max((now - c.published_at).total_seconds() / 3600, MIN_HOURS_LIVE)
    return max(reference / hours_live, 1.0)


def fit_prior(candidates: Iterable[Candidate], *, window_end: datetime, now: datetime) -> Prior:
    """Fit the week's typical rate, pseudo-views (method of moments) and the rates' spread."""
    pool = list(candidates)
    start = window_end - timedelta(days=7)
    reaches = [_views(c) * _age_adjustment(c, start, now) for c in pool]
    typical_reach = statistics.median(reaches) if reaches else 0.0
    views = sum(_views(c) for c in pool)
    pooled = sum(map(_weighted_engagement, pool)) / views if views else DEFAULT_TYPICAL_RATE
    solid = [c for c in pool if _views(c) >= MIN_EVIDENCE_VIEWS]
    if len(solid) < 5:
        return Prior(pooled, DEFAULT_PSEUDO_VIEWS, typical_reach, FALLBACK_SPREAD * pooled)
    rates = [_weighted_engagement(c) / _views(c) for c in solid]
    typical = statistics.median(rates)
    q1, _, q3 = statistics.quantiles(rates, n=4)
    # Most posts alike (often all without engagement): a zero IQR would cap every post at typical.
    spread = q3 - q1 if q3 > q1 else FALLBACK_SPREAD * pooled
    # Sampling noise of each rate (Poisson counts, weighted), taken out of the observed spread.
    noise = statistics.fmean(_weighted_engagement(c, 2) / _views(c) ** 2 for c in solid)
    true_spread = statistics.pvariance(rates) - noise
    engaged = sum(map(_weighted_engagement, solid))
    mean_weight = sum(_weighted_engagement(c, 2) for c in solid) / engaged if engaged else 1.0
    if typical <= 0 or true_spread <= 0:
        pseudo = MAX_PSEUDO_VIEWS
    else:
        pseudo = min(max(typical * mean_weight / true_spread, MIN_PSEUDO_VIEWS), MAX_PSEUDO_VIEWS)
    return Prior(typical, pseudo, typical_reach, spread)


def _credited_rate(views: int, engagement: float, prior: Prior) -> float:
    # The part of a post's rate its views can back: typical plus CLAIM_IQRS IQRs per 100 views.
    if views == 0:
        return 0.0
    claim = CLAIM_IQRS * prior.rate_spread * views / MIN_EVIDENCE_VIEWS
    return min(engagement / views, prior.typical_rate + claim)


def _parts(
    c: Candidate, window_start: datetime, now: datetime, prior: Prior
) -> tuple[int, float, float, float, float, float, float]:
    views, engagement = _views(c), _weighted_engagement(c)
    credited = _credited_rate(views, engagement, prior)
    pseudo, typical = prior.pseudo_views, prior.typical_rate
    shrunk = (credited * views + pseudo * typical) / (views + pseudo)
    adjustment = _age_adjustment(c, window_start, now)
    reach_factor = math.log10(10 + views * adjustment) ** REACH_EXPONENT
    return views, engagement, credited, shrunk, adjustment, reach_factor, shrunk * reach_factor


def score(c: Candidate, *, window_end: datetime, now: datetime, prior: Prior) -> tuple[float, dict]:
    """Score = shrunk credited rate × log10(10 + age-adjusted views) ** 0.75, with its parts."""
    views, engagement, credited, shrunk, adjustment, reach_factor, value = _parts(
        c, window_end - timedelta(days=7), now, prior
    )
    rate = engagement / views if views else None
    reasons = {
        "views": views,
        "weighted_engagement": round(engagement, 2),
        "engagement_weights": dict(ENGAGEMENT_WEIGHTS),
        "engagement_rate": round(rate, 5) if rate is not None else None,
        "credited_rate": round(credited, 5),
        "rate_capped": rate is not None and credited < rate,
        "typical_rate": round(prior.typical_rate, 5),
        "rate_spread": round(prior.rate_spread, 5) if math.isfinite(prior.rate_spread) else None,
        "pseudo_views": round(prior.pseudo_views, 1),
        "shrunk_rate": round(shrunk, 5),
        "age_adjustment": round(adjustment, 3),
        "adjusted_reach": round(views * adjustment, 1),
        "reach_factor": round(reach_factor, 4),
        "score": round(value, 6),
    }
    return value, reasons


def _summary(reasons: dict, prior: Prior, pinned: bool, duplicates: int) -> str:
    parts = ["pinned by an editor"] if pinned else []
    if prior.typical_rate > 0:
        lift = reasons["shrunk_rate"] / prior.typical_rate
        levels = ((2.0, "exceptional"), (1.25, "high"), (0.8, "typical"), (0.0, "below-typical"))
        level = next(name for floor, name in levels if lift >= floor)
    else:
        level = "some" if reasons["shrunk_rate"] > 0 else "no"
    spread = reasons["adjusted_reach"] / prior.typical_reach if prior.typical_reach else 1.0
    reach = "strong" if spread >= 2 else "average" if spread >= 0.5 else "small"
    parts.append(f"{level} engagement on {reach} reach")
    if reasons["rate_capped"]:
        parts.append("too few views to back its rate, so only part of it counts")
    if reasons["views"] < prior.pseudo_views:
        parts.append("few views, so its rate leans on the week's typical rate")
    if reasons["age_adjustment"] >= 1.5:
        parts.append(f"published late in the week (reach scaled ×{reasons['age_adjustment']:.1f})")
    if duplicates:
        parts.append(f"{duplicates} similar {'story' if duplicates == 1 else 'stories'} merged")
    return "; ".join(parts)


def _ineligibility(c: Candidate, start: datetime, end: datetime, rules: Rules) -> str | None:
    if c.id in rules.drops:
        return "dropped"
    if not start <= c.published_at < end:
        return "outside-week"
    if c.id in rules.already_sent:
        return "already-sent"
    if not is_on_topic(c, rules.topics):
        return "off-topic"
    return None


def _select(
    ordered: list[Candidate], pinned: list[Candidate], titles: dict[int, StoryTitle], rules: Rules
) -> tuple[list[Candidate], dict[int, str]]:
    """Pins first, then walk in score order skipping same-story and over-cap posts."""
    selected = list(pinned)
    chosen = [titles[c.id] for c in selected]
    chosen_keys = [t.key for t in chosen]
    per_source = Counter(c.source.strip().casefold() for c in selected)
    capped: dict[int, str] = {}
    for c in ordered:
        if len(selected) >= rules.size:
            break
        if story_matches(titles[c.id], chosen, chosen_keys):
            continue  # same story as a listed post; phase two records it under the best match
        key = c.source.strip().casefold()
        if per_source[key] >= rules.max_per_source:
            capped[c.id] = c.source
            continue
        per_source[key] += 1
        selected.append(c)
        chosen.append(titles[c.id])
        chosen_keys.append(titles[c.id].key)
    return selected, capped


def _attach_duplicates(
    selected: list[Candidate], rest: list[Candidate], titles: dict[int, StoryTitle]
) -> dict[int, int]:
    """Map each unlisted post to the listed post it duplicates (most similar, then best rank)."""
    pool = [titles[c.id] for c in rest]
    keys = [t.key for t in pool]
    best: dict[int, tuple[float, int]] = {}
    for position, winner in enumerate(selected):
        for similarity, index in story_matches(titles[winner.id], pool, keys):
            if index not in best or similarity > best[index][0]:
                best[index] = (similarity, position)
    return {rest[i].id: selected[pos].id for i, (_, pos) in best.items()}


def _left_out(
    selected: list[Candidate],
    rest: list[Candidate],
    duplicate_of: dict[int, int],
    capped: dict[int, str],
) -> tuple[dict[int, list[int]], list[Excluded]]:
    """Duplicates merged under each listed post, and why every other eligible post is out."""
    merged: dict[int, list[int]] = {c.id: [] for c in selected}
    left_out: list[Excluded] = []
    for c in rest:  # score order, so each list of duplicates is best first
        if c.id in duplicate_of:
            merged[duplicate_of[c.id]].append(c.id)
            left_out.append(Excluded(c.id, f"duplicate-of:{duplicate_of[c.id]}"))
        elif c.id in capped:
            left_out.append(Excluded(c.id, f"source-cap:{capped[c.id]}"))
        else:
            left_out.append(Excluded(c.id, "below-cut"))
    return merged, left_out


_REASON_WORDS = {
    "already-sent": "already sent",
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


def rank(candidates: Iterable[Candidate], *, week: str, now: datetime, rules: Rules) -> Ranking:
    """Rank a week's posts by SPEC §7: deterministic, every item with its score and reasons."""
    require_aware(now, "now")
    start, end = week_window(week)
    pins = set(rules.pins)
    pool: dict[int, Candidate] = {}
    ineligible: list[Excluded] = []
    eligible: list[Candidate] = []
    for c in candidates:
        if c.id in pool:
            raise ValueError(f"post {c.id} appears twice in the candidates")
        pool[c.id] = c
        reason = _ineligibility(c, start, end, rules)
        if reason is None or (c.id in pins and reason != "dropped"):
            eligible.append(c)
        else:
            ineligible.append(Excluded(c.id, reason))
    ineligible.sort(key=lambda e: e.post_id)
    ineligible += [Excluded(pid, "pin-not-found") for pid in rules.pins if pid not in pool]

    prior = fit_prior(eligible, window_end=end, now=now)
    scores = {c.id: _parts(c, start, now, prior)[-1] for c in eligible}
    # Ties: newer first, then smaller id (SPEC §7 rule 7).
    eligible.sort(key=lambda c: (-scores[c.id], -c.published_at.timestamp(), c.id))
    titles = {c.id: story_title(c.title, c.source) for c in eligible}
    pinned = [pool[pid] for pid in rules.pins if pid in pool]
    unpinned = [c for c in eligible if c.id not in pins]
    selected, capped = _select(unpinned, pinned, titles, rules)
    listed = {c.id for c in selected}
    rest = [c for c in unpinned if c.id not in listed]

    merged, left_out = _left_out(selected, rest, _attach_duplicates(selected, rest, titles), capped)
    items = []
    for position, c in enumerate(selected, start=1):
        value, reasons = score(c, window_end=end, now=now, prior=prior)
        reasons["pinned"] = c.id in pins
        reasons["duplicates"] = merged[c.id]
        reasons["summary"] = _summary(reasons, prior, c.id in pins, len(merged[c.id]))
        items.append(RankedItem(position, c.id, value, reasons, tuple(merged[c.id])))
    excluded = ineligible + left_out
    return Ranking(week, items, excluded, _note(week, len(items), rules, excluded, len(pool)))
