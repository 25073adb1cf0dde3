"""The store side of the send engine (listmonk's "store" seam): the ledger's SQL, nothing else.

One row per (issue, reader) in `deliveries`. A batch's rows are claimed by a conditional UPDATE
(on PostgreSQL through `FOR UPDATE SKIP LOCKED`), leased for `lease_seconds`, and each outcome
is written back on its own row, only while that row is still leased (`state = 'sending'`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from app.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    UTCDateTime,
)
from app.subscriptions import suppress

UNFINISHED = (DeliveryState.PENDING, DeliveryState.SENDING)
_QUIET = {"synchronize_session": False}


@dataclass(frozen=True, order=True)
class Claimed:
    """A ledger row this worker holds: its id, its reader and the tries made so far."""

    delivery_id: int
    subscriber_id: int
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row; `state` is where the row goes next."""

    claimed: Claimed
    state: str
    error: str | None = None
    not_before: datetime | None = None


def freeze_recipients(session: Session, *, issue_id: int, batch_size: int, now: datetime) -> int:
    """One pending row per confirmed reader, numbered into batches; one INSERT … SELECT."""
    position = (func.row_number().over(order_by=Subscriber.id) - 1).self_group()
    # A plain "/" on two integers divides whole numbers in both SQLite and PostgreSQL.
    batch = position.op("/", return_type=Integer)(literal(batch_size, Integer))
    readers = select(
        literal(issue_id),
        Subscriber.id,
        batch,
        literal(DeliveryState.PENDING),
        literal(0),
        literal(now, UTCDateTime),
    ).where(Subscriber.status == SubscriberStatus.CONFIRMED)
    columns = ["issue_id", "subscriber_id", "batch", "state", "attempts", "updated_at"]
    session.execute(insert(Delivery).from_select(columns, readers))
    # Counted, not taken from rowcount: psycopg reports -1 for an INSERT … SELECT.
    count = select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id)
    return session.scalar(count) or 0


def finish_if_done(session: Session, *, issue_id: int, now: datetime) -> bool:
    """Mark a sending issue `sent` once none of its rows is pending or sending."""
    unfinished = exists().where(Delivery.issue_id == issue_id, Delivery.state.in_(UNFINISHED))
    statement = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.SENDING, ~unfinished)
        .values(status=IssueStatus.SENT, sent_at=now, updated_at=now)
        .execution_options(**_QUIET)
    )
    return session.execute(statement).rowcount == 1


def release(session: Session, ids: list[int], *, state: str, now: datetime, why: str | None) -> int:
    """Hand held rows back (to `pending`, or `skipped` when the send was cancelled)."""
    if not ids:
        return 0
    values = {"state": state, "lease_until": None, "updated_at": now}
    if why is not None:
        values["last_error"] = why
    statement = (
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.SENDING)
        .values(**values)
        .execution_options(**_QUIET)
    )
    return session.execute(statement).rowcount


class Ledger:
    """One batch of one issue as the engine sees it. It commits: each claim and outcome is final.

    Services normally never commit; a batch is the exception because a claim must be visible to
    other workers before any mail goes out, and each outcome must be durable before the next
    message, so that a crash re-sends at most the message that was in flight.
    """

    def __init__(self, session: Session, *, issue_id: int, batch: int) -> None:
        self.session = session
        self.issue_id = issue_id
        self.batch = batch
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def issue_status(self) -> str | None:
        """The issue's status now (None if it is gone)."""
        return self.session.scalar(select(Issue.status).where(Issue.id == self.issue_id))

    def message_template(self) -> bytes | None:
        """The issue's finished message, stored when the send started."""
        return self.session.scalar(select(Issue.message_template).where(Issue.id == self.issue_id))

    def claim(self, *, now: datetime, lease_until: datetime) -> list[Claimed]:
        """Take the batch's due pending rows and commit, so no other worker can take them."""
        due = or_(Delivery.not_before.is_(None), Delivery.not_before <= now)
        candidates = (
            select(Delivery.id)
            .where(
                Delivery.issue_id == self.issue_id,
                Delivery.batch == self.batch,
                Delivery.state == DeliveryState.PENDING,
                due,
            )
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers anyway
        )
        statement = (
            update(Delivery)
            .where(Delivery.id.in_(candidates))
            .values(state=DeliveryState.SENDING, lease_until=lease_until, updated_at=now)
            .returning(Delivery.id, Delivery.subscriber_id, Delivery.attempts)
            .execution_options(**_QUIET)
        )
        rows = self.session.execute(statement).all()
        self.session.commit()
        return sorted(Claimed(*row) for row in rows)

    def readers(self, subscriber_ids: list[int]) -> dict[int, tuple[str, str]]:
        """Each reader's address and current status, read just before their chunk goes out."""
        query = select(Subscriber.id, Subscriber.email, Subscriber.status).where(
            Subscriber.id.in_(subscriber_ids)
        )
        return {row.id: (row.email, row.status) for row in self.session.execute(query)}

    def checkpoint(self, held: list[int], *, lease_until: datetime, now: datetime) -> None:
        """Extend the lease on rows still held and commit durably (flushing the fast commits)."""
        if held:
            statement = (
                update(Delivery)
                .where(Delivery.id.in_(held), Delivery.state == DeliveryState.SENDING)
                .values(lease_until=lease_until, updated_at=now)
                .execution_options(**_QUIET)
            )
            self.session.execute(statement)
        self.session.commit()

    def record(self, outcome: Outcome, *, now: datetime) -> None:
        """Write one outcome and commit (without waiting for the disk on PostgreSQL)."""
        if self._postgres:
            # Survives a killed worker (the server has it); a crash of the database server
            # itself may lose the last fraction of a second, bounded by the next checkpoint.
            self.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        values: dict[str, object] = {
            "state": outcome.state,
            "attempts": Delivery.attempts + 1,
            "lease_until": None,
            "not_before": outcome.not_before,
            "last_error": outcome.error,
            "updated_at": now,
        }
        if outcome.state == DeliveryState.SENT:
            values["sent_at"] = now
        statement = (
            update(Delivery)
            .where(
                Delivery.id == outcome.claimed.delivery_id,
                Delivery.state == DeliveryState.SENDING,
            )
            .values(**values)
            .execution_options(**_QUIET)
        )
        self.session.execute(statement)
        if outcome.state == DeliveryState.BOUNCED:
            reader = self.session.get(Subscriber, outcome.claimed.subscriber_id)
            if reader is not None:
                suppress(self.session, subscriber=reader, kind=SubscriberStatus.BOUNCED, now=now)
        self.session.commit()

    def give_back(self, held: list[int], *, now: datetime, why: str | None = None) -> None:
        """Release rows not yet tried: `pending` again, or `skipped` if the issue was cancelled."""
        cancelled = self.issue_status() == IssueStatus.CANCELLED
        state = DeliveryState.SKIPPED if cancelled else DeliveryState.PENDING
        release(self.session, held, state=state, now=now, why="cancelled" if cancelled else why)
        self.session.commit()

    def pause(self, reason: str, *, now: datetime) -> None:
        """Pause the whole issue with a reason the admin sees (the transport is unusable)."""
        statement = (
            update(Issue)
            .where(Issue.id == self.issue_id, Issue.status == IssueStatus.SENDING)
            .values(status=IssueStatus.PAUSED, pause_reason=reason, updated_at=now)
            .execution_options(**_QUIET)
        )
        self.session.execute(statement)
        self.session.commit()

    def next_retry(self) -> datetime | None:
        """When the batch's earliest deferred row (a 4xx retry) becomes due, if any."""
        return self.session.scalar(
            select(func.min(Delivery.not_before)).where(
                Delivery.issue_id == self.issue_id,
                Delivery.batch == self.batch,
                Delivery.state == DeliveryState.PENDING,
            )
        )

    def finish(self, *, now: datetime) -> bool:
        """Mark the issue sent if this was the last unfinished work; commits."""
        finished = finish_if_done(self.session, issue_id=self.issue_id, now=now)
        self.session.commit()
        return finished
