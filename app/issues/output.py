"""Issues as the admin API shows them (SPEC §6): one issue, a page of issues, and for a draft
the posts its ranking left out and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.issues.drafts import chunked, delivery_counts, get_issue, review_ranking
from app.issues.review import issue_segments
from app.issues.schemas import (
    DeliveryCounts,
    ExcludedOut,
    IssueItemOut,
    IssueOut,
    IssuePage,
    SegmentOut,
)
from app.models import Issue, IssueItem, IssueStatus, Post
from app.posts.schemas import PostOut
from app.ranking.score import Ranking
from app.sections import split_key

EXCLUDED_SHOWN = 500  # an editor reviews hundreds of left-out posts at most, not a 100k week


def list_issues(session: Session, *, limit: int, offset: int) -> tuple[list[Issue], int]:
    """A page of issues, newest week first, and how many there are."""
    total = session.scalar(select(func.count()).select_from(Issue)) or 0
    query = (
        select(Issue)
        .order_by(Issue.week.desc())
        .limit(limit)
        .offset(offset)
        .options(selectinload(Issue.items).selectinload(IssueItem.post))
    )
    return list(session.scalars(query)), total


def _excluded(session: Session, ranking: Ranking) -> dict[str, Any]:
    """The posts the ranking left out (the first EXCLUDED_SHOWN) with titles, and their counts."""
    shown = ranking.excluded[:EXCLUDED_SHOWN]
    titles: dict[int, str] = {}
    for chunk in chunked(e.post_id for e in shown):
        titles.update(session.execute(select(Post.id, Post.title).where(Post.id.in_(chunk))).all())
    return {
        "excluded": [
            ExcludedOut(post_id=e.post_id, title=titles.get(e.post_id), reason=e.reason)
            for e in shown
        ],
        "excluded_counts": dict(Counter(e.reason.split(":", 1)[0] for e in ranking.excluded)),
    }


def issue_out(
    session: Session,
    issue: Issue,
    *,
    ranking: Ranking | None = None,
    counts: Mapping[str, int] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IssueOut:
    """Issue JSON (SPEC §6); with the `ranking` behind a draft, also what was left out and why;
    with `settings` and `now` (one issue's answers, not pages of them), its segments."""
    if counts is None:
        counts = delivery_counts(session, [issue.id])[issue.id]
    review: dict[str, Any] = {}
    if ranking is not None:  # not stored: only when the ranking was just run (drafts only)
        listed = [item.post_id for item in issue.items]
        review = {
            **_excluded(session, ranking),
            # False when posts changed since the draft was ranked: the editor should refresh.
            "ranking_current": listed == [item.post_id for item in ranking.items],
        }
    if settings is not None and now is not None:
        review["segments"] = _segments(session, issue, settings=settings, now=now)
    return IssueOut(
        id=issue.id,
        week=issue.week,
        status=issue.status,
        subject=issue.subject,
        intro=issue.intro,
        note=issue.note,
        pins=list(issue.pins),
        drops=list(issue.drops),
        items=[
            IssueItemOut(
                rank=item.rank,
                score=item.score,
                reasons=item.reasons,
                clicks=item.clicks,
                sections=list(split_key(item.sections)),
                post=PostOut.of(item.post),
            )
            for item in issue.items
        ],
        counts=DeliveryCounts.model_validate(counts),
        created_at=issue.created_at,
        ranked_at=issue.ranked_at,
        sent_at=issue.sent_at,
        pause_reason=issue.pause_reason,
        **review,
    )


def _segments(
    session: Session, issue: Issue, *, settings: Settings, now: datetime
) -> list[SegmentOut]:
    segments, _planned = issue_segments(session, issue, settings=settings, now=now)
    return [
        SegmentOut(
            number=segment.number,
            sections=list(segment.sections),
            cadence=segment.cadence,
            readers=segment.readers,
            items=segment.post_ids,
        )
        for segment in segments
    ]


def show_issue(session: Session, *, issue_id: int, settings: Settings, now: datetime) -> IssueOut:
    """One issue as the API shows it, with its segments; a draft also with the posts left out
    and why."""
    issue = get_issue(session, issue_id=issue_id)
    ranking = None
    if issue.status == IssueStatus.DRAFT:
        ranking = review_ranking(session, issue=issue, settings=settings)
    return issue_out(session, issue, ranking=ranking, settings=settings, now=now)


def issue_page(session: Session, *, limit: int, offset: int) -> IssuePage:
    """A page of issues, newest week first, each with its items and delivery counts."""
    issues, total = list_issues(session, limit=limit, offset=offset)
    counts = delivery_counts(session, [issue.id for issue in issues])
    items = [issue_out(session, issue, counts=counts[issue.id]) for issue in issues]
    return IssuePage(items=items, total=total, limit=limit, offset=offset)
