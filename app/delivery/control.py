"""Control a running send (pause, resume, cancel), watch it (progress), and sweep stale work."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from app import jobs
from app.config import Settings
from app.db import enqueue
from app.delivery.engine import SendRefused, batches_with_work, load_issue
from app.delivery.ledger import finish_if_done
from app.models import Delivery, DeliveryState, Issue, IssueStatus

log = logging.getLogger(__name__)
_QUIET = {"synchronize_session": False}


def _move(
    session: Session, issue_id: int, source: tuple[str, ...], target: str, **values: Any
) -> bool:
    """Conditional status change: True only for the call that made it."""
    statement = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(source))
        .values(status=target, **values)
        .execution_options(**_QUIET)
    )
    changed = session.execute(statement).rowcount == 1
    session.expire_all()
    return changed


def pause(
    session: Session, *, issue_id: int, now: datetime, reason: str = "paused by an editor"
) -> bool:
    """Pause a sending issue; running batches stop at their next checkpoint. False if paused."""
    moved = _move(
        session,
        issue_id,
        (IssueStatus.SENDING,),
        IssueStatus.PAUSED,
        pause_reason=reason,
        updated_at=now,
    )
    if moved:
        return True
    status = load_issue(session, issue_id).status
    if status == IssueStatus.PAUSED:
        return False
    raise SendRefused(f"issue {issue_id} is {status}; only a sending issue can be paused")


def resume(session: Session, *, issue_id: int, now: datetime) -> bool:
    """Resume a paused issue and queue every batch with work left. False if already sending."""
    moved = _move(
        session,
        issue_id,
        (IssueStatus.PAUSED,),
        IssueStatus.SENDING,
        pause_reason=None,
        updated_at=now,
    )
    if moved:
        for batch in batches_with_work(session, issue_id):
            enqueue(session, jobs.SEND_BATCH, issue_id, batch)
        finish_if_done(session, issue_id=issue_id, now=now)
        return True
    status = load_issue(session, issue_id).status
    if status == IssueStatus.SENDING:
        return False
    raise SendRefused(f"issue {issue_id} is {status}; only a paused issue can be resumed")


def cancel(session: Session, *, issue_id: int, now: datetime) -> bool:
    """Stop a send for good: rows not yet sent become `skipped`. False if already cancelled."""
    if _move(session, issue_id, IssueStatus.RUNNING, IssueStatus.CANCELLED, updated_at=now):
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SKIPPED, last_error="cancelled", updated_at=now)
            .execution_options(**_QUIET)
        )
        return True
    status = load_issue(session, issue_id).status
    if status == IssueStatus.CANCELLED:
        return False
    raise SendRefused(
        f"issue {issue_id} is {status}; only a sending or paused send can be cancelled"
    )


def progress(session: Session, issue_id: int) -> dict[str, Any]:
    """The issue's status and its ledger counted by state (`done` once nothing more will go)."""
    issue = load_issue(session, issue_id)
    counts = dict.fromkeys(DeliveryState.ALL, 0)
    query = (
        select(Delivery.state, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.state)
    )
    counts.update({state: number for state, number in session.execute(query)})
    return {
        "id": issue.id,
        "status": issue.status,
        "pause_reason": issue.pause_reason,
        "total": sum(counts.values()),
        **counts,
        "done": issue.status in IssueStatus.ENDED,
    }


def _release_expired(session: Session, now: datetime) -> list[tuple[int, int]]:
    """Rows whose worker vanished (lease over): back to pending, or skipped if cancelled."""
    expired = and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
    cancelled = select(Issue.id).where(Issue.status == IssueStatus.CANCELLED)
    session.execute(
        update(Delivery)
        .where(expired, Delivery.issue_id.in_(cancelled))
        .values(state=DeliveryState.SKIPPED, lease_until=None, last_error="cancelled")
        .execution_options(**_QUIET)
    )
    released = session.execute(
        update(Delivery)
        .where(expired)
        .values(state=DeliveryState.PENDING, lease_until=None)  # not progress: keep updated_at
        .returning(Delivery.issue_id, Delivery.batch)
        .execution_options(**_QUIET)
    )
    return list(released.tuples())  # (issue id, batch) per released row


def _due_batches(session: Session, issue_id: int, now: datetime, *, retries_only: bool) -> set[int]:
    due = Delivery.not_before <= now
    if not retries_only:
        due = Delivery.not_before.is_(None) | due
    query = select(Delivery.batch).where(
        Delivery.issue_id == issue_id, Delivery.state == DeliveryState.PENDING, due
    )
    return set(session.scalars(query.distinct()))


def sweep(session: Session, *, now: datetime, settings: Settings) -> dict[str, int]:
    """Re-queue stale work so a killed worker or an emptied broker only delays a send.

    Expired leases go back to pending. For each sending issue, batches are queued again when
    they hold released rows or retries now due, or — when the issue made no progress for a
    whole lease — every batch with due rows (its tasks were probably lost). Duplicate tasks
    are harmless: a batch only sends what it claims.
    """
    released = _release_expired(session, now)
    stall = now - timedelta(seconds=settings.lease_seconds)
    queued = finished = 0
    sending = session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING))
    for issue_id in list(sending):
        batches = {batch for issue, batch in released if issue == issue_id}
        batches |= _due_batches(session, issue_id, now, retries_only=True)
        last_move = session.scalar(
            select(func.max(Delivery.updated_at)).where(Delivery.issue_id == issue_id)
        )
        if last_move is None or last_move < stall:
            batches |= _due_batches(session, issue_id, now, retries_only=False)
        for batch in sorted(batches):
            enqueue(session, jobs.SEND_BATCH, issue_id, batch)
        queued += len(batches)
        finished += finish_if_done(session, issue_id=issue_id, now=now)
    if released or queued or finished:
        log.info(
            "sweep: %s leases released, %s batches queued, %s issues finished",
            len(released),
            queued,
            finished,
        )
    return {"released": len(released), "queued": queued, "finished": finished}
