"""How sends go and went: a running send's progress, and past issues with their numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.delivery.engine import load_issue
from app.issues.drafts import delivery_counts
from app.models import DeliveryState, Issue, IssueItem, IssueStatus, Subscriber

# The ledger states the progress bar counts, in the order it shows them.
PROGRESS_STATES = (*DeliveryState.TERMINAL, DeliveryState.PENDING)


def send_progress(session: Session, *, issue_id: int) -> dict[str, Any]:
    """What the progress bar shows: counts by state, the share done, and whether it is over.

    `IssueNotFound` when there is no such issue.
    """
    issue = load_issue(session, issue_id)
    counts = delivery_counts(session, [issue.id])[issue.id]
    total = counts["total"]
    done = total - counts["pending"]
    return {
        "id": issue.id,
        "status": issue.status,
        "pause_reason": issue.pause_reason,
        "counts": {state: counts.get(state, 0) for state in ("total", *PROGRESS_STATES)},
        "done": done,
        "percent": round(100 * done / total, 1) if total else (100.0 if issue.sent_at else 0.0),
        "finished": issue.status in IssueStatus.ENDED,
    }


@dataclass(frozen=True)
class PastIssue:
    """One issue whose send was started, with what came of it."""

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
    """A page of issues whose send was started, newest first, with their numbers; and how many."""
    started = Issue.status.in_(IssueStatus.STARTED)
    total = session.scalar(select(func.count()).where(started)) or 0
    # One extra, older issue is not needed; the NEWER neighbour bounds each issue's window.
    issues = list(
        session.scalars(
            select(Issue)
            .where(started)
            .order_by(Issue.week.desc())
            .limit(limit)
            .offset(offset)
            .options(selectinload(Issue.items).selectinload(IssueItem.post))
        )
    )
    newer = None
    if offset:
        newer = session.scalar(
            select(Issue).where(started).order_by(Issue.week.desc()).offset(offset - 1).limit(1)
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
