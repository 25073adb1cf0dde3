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

Posts and stories are valued in `value` and the listed ones chosen in `selection`; this
module checks eligibility, runs the steps and writes each listed story's reasons.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from app.ranking.candidates import Candidate
from app.ranking.click_prior import source_key
from app.ranking.engagement import Prior, fit_prior, score
from app.ranking.reasons import plain_summary
from app.ranking.rules import Rules
from app.ranking.selection import Excluded, select
from app.ranking.value import Story, post_values, valued_stories
from app.sections import Sections
from app.weeks import require_aware, week_window

__all__ = ["Candidate", "RankedItem", "Ranking", "is_on_topic", "rank"]

# Stories read, best first, for the sections' extras; and how many of each section's best are
# weighed by its source factors for its `size` slots.
SECTION_SCAN, CANDIDATES_PER_SLOT = 2000, 3
# Per section, per source key: how much more (>1) or less (<1) that section's readers clicked
# the source than readers at large (`app.tracking.clicks`); absent means 1.
SectionFactors = Mapping[str, Mapping[str, float]]

OUTLETS_SHOWN = 3  # outlets named in a summary sentence before "and N more"
# Outlet names and post ids kept in a listed story's stored reasons; counts stay exact. A story
# told by 5,000 copies must not store 5,000 ids with every draft.
NAMES_KEPT = 100


@dataclass(frozen=True)
class RankedItem:
    """One listed story: 1-based rank, its post, score, reasons, its other posts (best first)."""

    rank: int
    post_id: int
    score: float
    reasons: dict
    duplicates: tuple[int, ...] = ()
    sections: tuple[str, ...] = ()  # keys of the reader sections its story is in


@dataclass(frozen=True)
class Ranking:
    """The ranked week: listed items, excluded posts, and a note when the issue is short."""

    week: str
    items: list[RankedItem]
    excluded: list[Excluded] = field(default_factory=list)
    note: str | None = None
    engagement_data: bool = False  # whether any eligible post of the week carried counters
    # Each section's best stories beyond `items`, ranked on after them (`section_extras`).
    extras: list[RankedItem] = field(default_factory=list)


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


def _reasons(
    c: Candidate,
    story: Story,
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
    sections: Sections | None = None,
    section_factors: SectionFactors | None = None,
) -> Ranking:
    """Rank a week's posts by SPEC §7: deterministic, every item with its score and reasons.

    With `sections`, each item says which reader sections its story is in, and the ranking
    also keeps each section's best stories beyond the top 10 (`Ranking.extras`), ordered by
    the same values (times the section's source factors, `section_extras`): the material of
    every reader's own top 10 (`app.issues.segments`), from one ranking of the week.
    """
    with paused_cycle_collection():
        return _rank(
            candidates,
            week=week,
            now=now,
            rules=rules,
            click_priors=click_priors,
            sections=sections,
            section_factors=section_factors or {},
        )


def _rank(
    candidates: Iterable[Candidate],
    *,
    week: str,
    now: datetime,
    rules: Rules,
    click_priors: Mapping[str, float] | None,
    sections: Sections | None,
    section_factors: SectionFactors,
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
    values, neutral = post_values(eligible + dropped_posts, prior, start, now, rules, click_priors)
    stories = valued_stories(eligible + dropped_posts, values, rules)
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
    selection = select(stories, pinned, rules, dropped)
    merged: dict[int, list[int]] = {c.id: [] for c, _ in selection.listed}
    for excluded in selection.left_out:
        kind, _, target = excluded.reason.partition(":")
        if kind == "duplicate-of":
            merged[int(target)].append(excluded.post_id)
    story_sections = StorySections(sections)
    extras = (
        section_extras(stories, selection.listed, story_sections, rules, dropped, section_factors)
        if sections is not None
        else []
    )
    items = []
    listed = [*selection.listed, *extras]
    for position, (c, story) in enumerate(listed, start=1):
        duplicates = merged[c.id] if c.id in merged else [p.id for p in story.posts if p.id != c.id]
        reasons = _reasons(
            c,
            story,
            pinned=c.id in pins,
            duplicates=duplicates,
            neutral=neutral,
            prior=prior,
            start=start,
            end=end,
            now=now,
            rules=rules,
            click_priors=click_priors,
        )
        ranked = RankedItem(
            position,
            c.id,
            story.value,
            reasons,
            tuple(duplicates),
            story_sections(story),
        )
        items.append(ranked)
    excluded = ineligible + selection.left_out
    overall = items[: len(selection.listed)]
    note = _note(week, len(overall), rules, excluded, len(pool))
    return Ranking(
        week,
        overall,
        excluded,
        note,
        engagement_data=bool(with_metrics),
        extras=items[len(selection.listed) :],
    )


class StorySections:
    """The reader sections of stories, worked out when first asked (most stories never are).

    A story is in a section when any of its first POSTS_READ posts is: a story told by 5,000
    copies of one wire text says what it is about in its first few.
    """

    POSTS_READ = 8

    def __init__(self, sections: Sections | None) -> None:
        self.sections = sections
        self.order = {s.key: n for n, s in enumerate(sections.all)} if sections else {}
        self.known: dict[int, tuple[str, ...]] = {}

    def __call__(self, story: Story) -> tuple[str, ...]:
        found = self.known.get(id(story))
        if found is None:
            keys: set[str] = set()
            if self.sections is not None:
                for c in story.posts[: self.POSTS_READ]:
                    keys.update(
                        self.sections.of_post(topics=c.topics, title=c.title, summary=c.summary)
                    )
            found = self.known[id(story)] = tuple(sorted(keys, key=self.order.__getitem__))
        return found


def section_extras(
    stories: list[Story],
    listed: list[tuple[Candidate, Story]],
    story_sections: StorySections,
    rules: Rules,
    dropped: Mapping[int, int],
    section_factors: SectionFactors,
) -> list[tuple[Candidate, Story]]:
    """Each section's best stories that the overall list does not hold, best first overall.

    Per section at most `rules.size` stories, in the order of their value times the section's
    factor for the story's source (readers of that section clicked that source more or less
    than readers at large; 1 without evidence). Only stories of positive value, never a
    dropped story, and the post shown is the story's first from a source not weighted 0.
    The stories are read best first, and only the first SECTION_SCAN of them: a section with
    fewer than its 10 among the week's best stories is short, and its readers' lists are filled
    from the overall top (`app.issues.segments`).
    """
    taken = {id(story) for _, story in listed}
    chosen: dict[int, tuple[Candidate, Story]] = {}
    by_section: dict[str, list[Story]] = {}
    enough = rules.size * CANDIDATES_PER_SLOT
    for story in stories[:SECTION_SCAN]:
        if id(story) in taken or id(story) in dropped or story.value <= 0:
            continue
        for key in story_sections(story):
            members = by_section.setdefault(key, [])
            if len(members) < enough:
                members.append(story)
        if len(by_section) == len(story_sections.order) and all(
            len(members) >= enough for members in by_section.values()
        ):
            break
    for key, members in by_section.items():
        factors = section_factors.get(key, {})
        best = sorted(
            members,
            key=lambda s: -s.value * factors.get(source_key(s.posts[0].source), 1.0),
        )
        count = 0
        for story in best:
            if count >= rules.size:
                break
            pick = next(
                (
                    c
                    for c in story.posts
                    if c.id not in rules.drops
                    and rules.source_weights.get(source_key(c.source), 1.0) > 0
                ),
                None,
            )
            if pick is None:
                continue
            chosen.setdefault(id(story), (pick, story))
            count += 1
    order = {id(story): index for index, story in enumerate(stories)}
    return sorted(chosen.values(), key=lambda pair: order[id(pair[1])])
