"""History and stats: past issues with deliveries, unsubscribes and clicks, and two SVG charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app import clock
from app.issues.drafts import delivery_counts
from app.models import Issue, IssueItem, Subscriber
from app.tracking.charts import MAILED, bar_chart, clicks_per_issue, line_chart, subscriber_series
from app.web.admin.auth import AdminSession, current_admin
from app.web.admin.pages import render
from app.web.deps import db_session

router = APIRouter()
PAGE = 20


@dataclass(frozen=True)
class PastIssue:
    """One mailed issue as the history table shows it."""

    issue: Issue
    counts: dict[str, int]
    unsubscribes: int
    clicks: int


def _went_out(issue: Issue) -> datetime | None:
    return issue.send_started_at or issue.sent_at


def unsubscribes_between(session: Session, start: datetime, end: datetime | None) -> int:
    """Readers whose unsubscribe falls in [start, end): the issue's share of leavers (approx.)."""
    query = select(func.count()).where(Subscriber.unsubscribed_at >= start)
    if end is not None:
        query = query.where(Subscriber.unsubscribed_at < end)
    return session.scalar(query) or 0


def past_issues(session: Session, *, limit: int, offset: int) -> tuple[list[PastIssue], int]:
    """A page of mailed issues, newest first, with their numbers."""
    total = session.scalar(select(func.count()).where(Issue.status.in_(MAILED))) or 0
    # One extra, older issue is not needed; the NEWER neighbour bounds each issue's window.
    issues = list(
        session.scalars(
            select(Issue)
            .where(Issue.status.in_(MAILED))
            .order_by(Issue.week.desc())
            .limit(limit)
            .offset(offset)
            .options(selectinload(Issue.items).selectinload(IssueItem.post))
        )
    )
    newer = None
    if offset:
        newer = session.scalar(
            select(Issue)
            .where(Issue.status.in_(MAILED))
            .order_by(Issue.week.desc())
            .offset(offset - 1)
            .limit(1)
        )
    counts = delivery_counts(session, [issue.id for issue in issues])
    rows = []
    for issue in issues:
        start = _went_out(issue)
        end = _went_out(newer) if newer is not None else None
        left = unsubscribes_between(session, start, end) if start else 0
        clicks = sum(item.clicks for item in issue.items)
        rows.append(PastIssue(issue, counts[issue.id], left, clicks))
        newer = issue
    return rows, total


@router.get("/admin/history", response_class=HTMLResponse)
def history(
    request: Request,
    by: str = Query("day", pattern="^(day|week)$"),
    page: int = Query(1, ge=1),
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """Past issues, readers over time, clicks per issue."""
    rows, total = past_issues(session, limit=PAGE, offset=(page - 1) * PAGE)
    now = clock.now()
    days = 90 if by == "day" else 364
    readers = line_chart(
        subscriber_series(session, now=now, days=days, by=by),
        title=f"Confirmed readers, last {days} days, by {by}",
    )
    clicks = bar_chart(clicks_per_issue(session), title="Clicks per issue (latest 12)")
    return render(
        request,
        "admin/history.html",
        admin=admin,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        by=by,
        readers_chart=Markup(readers),
        clicks_chart=Markup(clicks),  # our SVG, labels escaped
    )
