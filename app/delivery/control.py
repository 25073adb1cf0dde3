"""Control a send (pause, resume, cancel, send to the rest), watch it (progress), sweep stale work.

A cancel, a "send to the rest" and a batch handing rows back all decide a row's state from the
issue's status; each takes the issue's row lock first (`FOR UPDATE` on PostgreSQL; SQLite runs
one writer at a time), so none of them can act on a status another just changed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session

from app import jobs
from app.config import Settings
from app.db import enqueue
from app.delivery.engine import SendRefused, batches_with_work, load_issue
from app.delivery.ledger import finish_if_done
from app.issues.errors import IssueNotFound
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
    """Stop a send: rows not yet sent become `cancelled`. False if already cancelled.

    Rows a batch holds are left to it: it sends at most the rest of its chunk, then hands the
    others back as `cancelled` (`Ledger.give_back`).
    """
    if _move(session, issue_id, IssueStatus.RUNNING, IssueStatus.CANCELLED, updated_at=now):
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.CANCELLED, last_error="cancelled", updated_at=now)
            .execution_options(**_QUIET)
        )
        return True
    status = load_issue(session, issue_id).status
    if status == IssueStatus.CANCELLED:
        return False
    raise SendRefused(
        f"issue {issue_id} is {status}; only a sending or paused send can be cancelled"
    )


def send_remaining(session: Session, *, issue_id: int, now: datetime) -> bool:
    """ "Send to the rest": mail the readers a cancelled send never reached, and nobody else.

    Exactly the `cancelled` rows go back to `pending` and the issue to `sending`; every other
    row keeps its outcome, so nobody gets a second copy, and readers who joined since are not
    added. A reader who left meanwhile is `skipped` as in any send. False if the issue is
    already sending or sent (a second click); `SendRefused` for a draft, a paused send, or a
    cancelled one with nobody left to mail.
    """
    status = session.scalar(select(Issue.status).where(Issue.id == issue_id).with_for_update())
    if status is None:
        raise IssueNotFound(issue_id, f"there is no issue {issue_id}")
    if status in (IssueStatus.SENDING, IssueStatus.SENT):
        return False
    if status != IssueStatus.CANCELLED:
        raise SendRefused(f"issue {issue_id} is {status}; only a cancelled send can go to the rest")
    session.execute(
        update(Delivery)
        .where(Delivery.issue_id == issue_id, Delivery.state == DeliveryState.CANCELLED)
        .values(state=DeliveryState.PENDING, last_error=None, updated_at=now)
        .execution_options(**_QUIET)
    )
    # Pending rows count too: a 4xx retry recorded after the cancel, never sent either.
    batches = batches_with_work(session, issue_id)
    if not batches:
        raise SendRefused(f"issue {issue_id} was cancelled with nobody left to mail")
    _move(
        session,
        issue_id,
        (IssueStatus.CANCELLED,),
        IssueStatus.SENDING,
        pause_reason=None,
        updated_at=now,
    )
    for batch in batches:
        enqueue(session, jobs.SEND_BATCH, issue_id, batch)
    log.info("issue %s: sending to the readers the cancel left out", issue_id)
    return True


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
    """Rows whose worker vanished (lease over): back to pending, or `cancelled` if cancelled."""
    expired = and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
    # The issues first, locked in id order as `Ledger.give_back` locks its one issue before its
    # rows: a status read here stays true until the rows are released, and no deadlock.
    issues = session.execute(
        select(Issue.id, Issue.status)
        .where(exists().where(Delivery.issue_id == Issue.id, expired))
        .order_by(Issue.id)
        .with_for_update(of=Issue)
    ).all()
    if not issues:
        return []
    cancelled = [issue_id for issue_id, status in issues if status == IssueStatus.CANCELLED]
    if cancelled:
        session.execute(
            update(Delivery)
            .where(expired, Delivery.issue_id.in_(cancelled))
            .values(state=DeliveryState.CANCELLED, lease_until=None, last_error="cancelled")
            .execution_options(**_QUIET)
        )
    released = session.execute(
        update(Delivery)
        .where(expired, Delivery.issue_id.in_([issue_id for issue_id, _ in issues]))
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
