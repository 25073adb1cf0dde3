"""An issue under review: the dashboard's overview, each listed post's story, what was left out,
and what each section's readers get (issue 13)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.issues.drafts import delivery_counts, review_ranking
from app.issues.segments import IssueVariants, Variant, plan_segments
from app.models import Issue, IssueItem, IssueSegment, IssueStatus, Post
from app.ranking.click_prior import source_key
from app.ranking.reasons import technical_details
from app.readers.counts import readers_by_status
from app.sections import Sections, split_key
from app.weeks import last_complete_week

RECENT = 6  # issues the dashboard lists
MAX_LEFT_OUT = 500  # left-out posts the review shows; a busy week has thousands
# Left-out reasons the review does not list: the editor's own drops are listed apart, and posts
# outside the week were never candidates.
UNLISTED_REASONS = ("dropped", "outside-week")
_CHUNK = 500  # ids per IN (...), under SQLite's parameter limit


@dataclass(frozen=True)
class Dashboard:
    """The admin's start page: the current draft, running sends, recent issues, the readers."""

    draft: Issue | None
    live: list[Issue]
    recent: list[Issue]
    counts: dict[int, dict[str, int]]  # deliveries by state, per recent issue
    readers: dict[str, int]  # readers by status
    week: str  # the week a new draft would be for
    no_engagement: bool  # the draft's posts carry no engagement counters (a feeds-only week)


def has_metrics(item: IssueItem) -> bool:
    """Whether the listed post carried engagement counters (a feed's posts have none)."""
    flag = item.reasons.get("has_metrics")
    if isinstance(flag, bool):
        return flag
    post = item.post  # ranked before the ranking said so: judge by the counters themselves
    return any((post.views, post.likes, post.shares, post.comments))


def overview(session: Session, *, now: datetime) -> Dashboard:
    """What the dashboard shows at `now`."""
    recent = list(session.scalars(select(Issue).order_by(Issue.week.desc()).limit(RECENT)))
    draft = next((issue for issue in recent if issue.status == IssueStatus.DRAFT), None)
    live = list(session.scalars(select(Issue).where(Issue.status.in_(IssueStatus.RUNNING))))
    return Dashboard(
        draft=draft,
        live=live,
        recent=recent,
        counts=delivery_counts(session, [issue.id for issue in recent]),
        readers=readers_by_status(session),
        week=last_complete_week(now),
        no_engagement=bool(draft and draft.items) and not any(map(has_metrics, draft.items)),
    )


@dataclass(frozen=True)
class StoryView:
    """A listed post's story: why in words, who covered it, the raw numbers."""

    summary: str
    covered_by: int  # independent sources (syndicated copies of one wire text count once)
    posts: int  # posts in the story, the listed one included
    others: list[Post]  # the story's other posts, best first
    has_metrics: bool
    details: list[tuple[str, str]]


def _post_ids(value: Any) -> list[int]:
    """The post ids in a stored reason (a list of ints), ignoring anything else."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _story(item: IssueItem, others: list[Post]) -> StoryView:
    reasons = item.reasons
    coverage = reasons.get("coverage") if isinstance(reasons.get("coverage"), dict) else {}
    # Ranked before coverage was recorded: count the distinct outlets among the story's posts.
    outlets = {source_key(p.source) for p in [item.post, *others]}
    return StoryView(
        summary=str(reasons.get("summary") or ""),
        covered_by=_count(coverage.get("count")) or len(outlets),
        posts=_count(coverage.get("posts")) or 1 + len(others),
        others=others,
        has_metrics=has_metrics(item),
        details=technical_details(item.score, reasons),
    )


def posts_by_id(session: Session, ids: Sequence[int]) -> dict[int, Post]:
    """The posts with these ids that exist, by id."""
    found: dict[int, Post] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        found.update((p.id, p) for p in session.scalars(select(Post).where(Post.id.in_(chunk))))
    return found


def stories(session: Session, items: Sequence[IssueItem]) -> dict[int, StoryView]:
    """Each listed item's story by item id; the other posts of all stories in one query."""
    wanted = {item.id: _post_ids(item.reasons.get("duplicates")) for item in items}
    found = posts_by_id(session, sorted({pid for ids in wanted.values() for pid in ids}))
    return {
        item.id: _story(item, [found[pid] for pid in wanted[item.id] if pid in found])
        for item in items
    }


@dataclass(frozen=True)
class LeftOut:
    """What a ranking of the issue's week leaves out, and the posts an editor dropped."""

    # (post, the ranking's reason) by the reason's kind ("duplicate-of", "source-cap", …);
    # "below-cut" last, the other kinds alphabetically.
    groups: dict[str, list[tuple[Post, str]]]
    dropped: list[Post]
    current: bool  # ranking the week now lists the same posts as the issue


def left_out(session: Session, issue: Issue, *, settings: Settings) -> LeftOut:
    """For a draft, the week's posts the ranking left out, by reason; for any issue, the drops."""
    groups: dict[str, list[tuple[Post, str]]] = defaultdict(list)
    current = True
    if issue.status == IssueStatus.DRAFT:
        ranking = review_ranking(session, issue=issue, settings=settings)
        current = [i.post_id for i in ranking.items] == [i.post_id for i in issue.items]
        shown = [e for e in ranking.excluded if e.reason not in UNLISTED_REASONS][:MAX_LEFT_OUT]
        posts = posts_by_id(session, [e.post_id for e in shown])
        for excluded in shown:
            post = posts.get(excluded.post_id)
            if post is not None:
                groups[excluded.reason.partition(":")[0]].append((post, excluded.reason))
    dropped = posts_by_id(session, issue.drops)
    return LeftOut(
        groups=dict(sorted(groups.items(), key=lambda kv: (kv[0] == "below-cut", kv[0]))),
        dropped=[dropped[pid] for pid in issue.drops if pid in dropped],
        current=current,
    )


@dataclass(frozen=True)
class SectionRow:
    """One line of a section's list: where it stands and how it got there."""

    position: int  # 1-based, in mail order
    item: IssueItem
    in_overall: bool  # also in the overall top (False: a section extra only its readers get)
    filled: bool  # not of the section: filled in from the overall top because it was short
    pinned: bool  # an editor's pin, which goes to everyone


@dataclass(frozen=True)
class SectionList:
    """What a reader of only one section gets."""

    key: str
    label: str
    rows: list[SectionRow]
    from_section: int  # rows that are the section's own stories (pins included)


@dataclass(frozen=True)
class SegmentView:
    """One variant readers get (or would get if sent now): the selection, cadence, readers."""

    number: int
    sections: tuple[str, ...]  # () = everything
    description: str  # "Wind and Policy", "everything"
    cadence: str
    readers: int
    post_ids: list[int]  # in mail order


@dataclass(frozen=True)
class SectionReview:
    """The review's sections part: per-section lists and who gets which variant."""

    lists: list[SectionList]
    segments: list[SegmentView]
    planned: bool  # True: a draft's segments if sent now; False: stored when the send started


def _section_list(variant: Variant, label: str, pins: set[int]) -> SectionList:
    rows = [
        SectionRow(
            position=position,
            item=item,
            in_overall=item.overall,
            filled=position > variant.from_sections,
            pinned=item.post_id in pins,
        )
        for position, item in enumerate(variant.items, start=1)
    ]
    return SectionList(variant.key, label, rows, variant.from_sections)


def section_lists(variants: IssueVariants) -> list[SectionList]:
    """Per configured section, in configuration order, the list its readers alone get."""
    labels = {section.key: section.label for section in variants.sections.all}
    pins = set(variants.issue.pins)
    return [
        _section_list(variant, labels[key], pins)
        for key, variant in variants.section_variants().items()
    ]


def _planned_segments(
    session: Session, issue: Issue, *, settings: Settings, now: datetime
) -> list[SegmentView]:
    return [
        SegmentView(
            number=segment.number,
            sections=segment.variant.sections,
            description=settings.sections.describe(segment.variant.key),
            cadence=segment.variant.cadence,
            readers=segment.readers,
            post_ids=[item.post_id for item in segment.variant.items],
        )
        for segment in plan_segments(session, issue, settings=settings, now=now)
    ]


def _stored_segments(session: Session, issue: Issue, sections: Sections) -> list[SegmentView]:
    """The segments fixed when the send started, with their lists as they went out."""
    rows = list(
        session.scalars(
            select(IssueSegment)
            .where(IssueSegment.issue_id == issue.id)
            .order_by(IssueSegment.number)
        )
    )
    item_ids = sorted({item_id for row in rows for item_id in row.item_ids})
    post_of: dict[int, int] = {}
    for start in range(0, len(item_ids), _CHUNK):
        chunk = item_ids[start : start + _CHUNK]
        post_of.update(
            session.execute(
                select(IssueItem.id, IssueItem.post_id).where(IssueItem.id.in_(chunk))
            ).all()
        )
    return [
        SegmentView(
            number=row.number,
            sections=split_key(row.sections),
            description=sections.describe(row.sections),
            cadence=row.cadence,
            readers=row.readers,
            post_ids=[post_of[item_id] for item_id in row.item_ids if item_id in post_of],
        )
        for row in rows
    ]


def issue_segments(
    session: Session, issue: Issue, *, settings: Settings, now: datetime
) -> tuple[list[SegmentView], bool]:
    """Who gets what: for a draft the segments a send started `now` would have (True), for
    any other issue the segments stored when its send started (False; none before issue 13)."""
    if issue.status == IssueStatus.DRAFT:
        return _planned_segments(session, issue, settings=settings, now=now), True
    return _stored_segments(session, issue, settings.sections), False


def section_review(
    session: Session, issue: Issue, *, settings: Settings, now: datetime
) -> SectionReview:
    """The sections part of the review page (no sections configured: nothing to show)."""
    lists = section_lists(IssueVariants(session, issue, settings=settings))
    segments, planned = issue_segments(session, issue, settings=settings, now=now)
    return SectionReview(lists=lists, segments=segments, planned=planned)


def section_labels(items: Sequence[IssueItem], sections: Sections) -> dict[int, list[str]]:
    """Item id → the labels of the configured sections its story is in (tags on the review)."""
    return {item.id: sections.labels(split_key(item.sections)) for item in items}
