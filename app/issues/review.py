"""An issue under review: the dashboard's overview, each listed post's story, what was left out."""

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
from app.models import Issue, IssueItem, IssueStatus, Post
from app.ranking.click_prior import source_key
from app.ranking.reasons import technical_details
from app.readers.counts import readers_by_status
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
