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

# The ledger states the progress page counts, in the order it shows them.
PROGRESS_STATES = (*DeliveryState.TERMINAL, DeliveryState.PENDING, DeliveryState.CANCELLED)


def send_progress(session: Session, *, issue_id: int) -> dict[str, Any]:
    """What the progress page shows: counts by state, how far the send got, a one-line summary.

    `done` counts the rows a batch settled (sent, failed, bounced, unknown, or skipped because
    the reader left); rows a cancel stopped are not done, so a cancelled send's bar stops
    where the send did. `IssueNotFound` when there is no such issue.
    """
    issue = load_issue(session, issue_id)
    counts = delivery_counts(session, [issue.id])[issue.id]
    total = counts["total"]
    done = sum(counts[state] for state in DeliveryState.TERMINAL)
    percent = round(100 * done / total, 1) if total else (100.0 if issue.sent_at else 0.0)
    return {
        "id": issue.id,
        "status": issue.status,
        "pause_reason": issue.pause_reason,
        "counts": {state: counts.get(state, 0) for state in ("total", *PROGRESS_STATES)},
        "done": done,
        # Nobody will get these unless an editor sends to the rest (only a cancelled send).
        "not_sent": total - done if issue.status == IssueStatus.CANCELLED else 0,
        "percent": percent,
        "summary": _summary(issue, counts, done, percent),
        "finished": issue.status in IssueStatus.ENDED,
    }


def _summary(issue: Issue, counts: dict[str, int], done: int, percent: float) -> str:
    """ "1,200 of 3,014 done (39.8 %)", "Cancelled after 300 of 3,014 — 2,714 not sent", …"""
    total = counts["total"]
    if issue.status == IssueStatus.DRAFT:
        return "Not sent yet"
    if issue.status == IssueStatus.CANCELLED:
        return f"Cancelled after {done:,} of {total:,} — {total - done:,} not sent"
    if issue.status != IssueStatus.SENT:
        return f"{done:,} of {total:,} done ({percent} %)"
    if not total:
        return "Sent to nobody: there were no confirmed readers"
    sent = counts[DeliveryState.SENT]
    readers = f"{sent:,} reader{'' if sent == 1 else 's'}"
    if sent != total:
        readers = f"{sent:,} of {total:,} readers"
    took = ""
    if issue.send_started_at and issue.sent_at:
        took = " in " + duration((issue.sent_at - issue.send_started_at).total_seconds())
    return f"Sent to {readers}{took}"


def duration(seconds: float) -> str:
    """How long a send took, as an editor would say it: "16 s", "4 min", "2.5 h", "3 days"."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{round(seconds / 86400)} days"


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
