"""The store side of the send engine (listmonk's "store" seam): the ledger's SQL, nothing else.

One row per (issue, reader) in `deliveries`. A batch's rows are claimed by a conditional UPDATE
(on PostgreSQL through `FOR UPDATE SKIP LOCKED`), leased for `lease_seconds`, and each outcome
is written back on its own row, only while that row is still leased (`state = 'sending'`).

Recording an outcome is the per-message cost of the whole engine, so it is one statement: on
PostgreSQL an UPDATE on a connection of its own in autocommit mode with `synchronous_commit`
off (one round trip, no BEGIN/COMMIT, no wait for the disk); on SQLite a short transaction of
its own (WAL with synchronous=NORMAL commits without an fsync).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from app.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueSegment,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    UTCDateTime,
)
from app.readers.subscriptions import suppress

_QUIET = {"synchronize_session": False}
_ROWS = Delivery.__table__
# One outcome, written only while the row is still ours (leased). Built once: a Core statement
# on the table (not the ORM entity) skips the ORM's bulk-update machinery on every message.
_RECORD = (
    update(_ROWS)
    .where(_ROWS.c.id == bindparam("row_id"), _ROWS.c.state == DeliveryState.SENDING)
    .values(
        state=bindparam("new_state"),
        attempts=_ROWS.c.attempts + 1,
        lease_until=None,
        not_before=bindparam("retry_at", type_=UTCDateTime),
        last_error=bindparam("error"),
        updated_at=bindparam("now", type_=UTCDateTime),
        sent_at=func.coalesce(bindparam("sent_now", type_=UTCDateTime), _ROWS.c.sent_at),
    )
)
# The same UPDATE as PostgreSQL text, prepared once on the driver's connection: SQLAlchemy's
# own work per call (~40 µs) is a large share of one message's budget. Times are naive UTC,
# as UTCDateTime stores them.
_RECORD_PG = (
    "UPDATE deliveries SET state = %(new_state)s, attempts = attempts + 1, lease_until = NULL,"
    " not_before = %(retry_at)s, last_error = %(error)s, updated_at = %(now)s,"
    " sent_at = coalesce(%(sent_now)s, sent_at) WHERE id = %(row_id)s AND state = 'sending'"
)


@dataclass(frozen=True, order=True)
class Claimed:
    """A ledger row this worker holds: its id, its reader and the tries made so far."""

    delivery_id: int
    subscriber_id: int
    attempts: int
    segment: int | None = None  # which rendering the reader gets (None: the issue's only one)


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row; `state` is where the row goes next."""

    claimed: Claimed
    state: str
    error: str | None = None
    not_before: datetime | None = None


# Who a send mails: written once, for the send itself and for what `digest send` announces.
RECIPIENTS = Subscriber.status == SubscriberStatus.CONFIRMED


def count_recipients(session: Session, *, who: ColumnElement[bool] = RECIPIENTS) -> int:
    """How many readers a send started now would mail (`freeze_recipients` takes them)."""
    return session.scalar(select(func.count()).select_from(Subscriber).where(who)) or 0


def freeze_recipients(
    session: Session,
    *,
    issue_id: int,
    batch_size: int,
    now: datetime,
    who: ColumnElement[bool] = RECIPIENTS,
    segments: Mapping[tuple[str, str], int] | None = None,
) -> int:
    """One pending row per reader `who` selects, numbered into batches; one INSERT … SELECT.

    With `segments` ((sections, cadence) as stored → segment number) each row names its
    reader's segment, and the batches run segment by segment, so a batch mostly fills copies
    of one or two stored messages.
    """
    segment: ColumnElement[Any] = literal(None, Integer)
    order: list[ColumnElement[Any]] = [Subscriber.id]
    if segments:
        whens = [
            (and_(Subscriber.sections == sections, Subscriber.cadence == cadence), number)
            for (sections, cadence), number in segments.items()
        ]
        segment = case(*whens, else_=literal(None, Integer))
        order = [segment, Subscriber.id]
    position = (func.row_number().over(order_by=order) - 1).self_group()
    # A plain "/" on two integers divides whole numbers in both SQLite and PostgreSQL.
    batch = position.op("/", return_type=Integer)(literal(batch_size, Integer))
    readers = select(
        literal(issue_id),
        Subscriber.id,
        batch,
        literal(DeliveryState.PENDING, String),
        literal(0),
        literal(now, UTCDateTime),
        segment,
    ).where(who)
    columns = ["issue_id", "subscriber_id", "batch", "state", "attempts", "updated_at", "segment"]
    session.execute(insert(Delivery).from_select(columns, readers))
    # Counted, not taken from rowcount: psycopg reports -1 for an INSERT … SELECT.
    count = select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id)
    return session.scalar(count) or 0


def finish_if_done(session: Session, *, issue_id: int, now: datetime) -> bool:
    """Mark a sending issue `sent` once none of its rows is pending or sending."""
    unfinished = exists().where(
        Delivery.issue_id == issue_id, Delivery.state.in_(DeliveryState.OPEN)
    )
    statement = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.SENDING, ~unfinished)
        .values(status=IssueStatus.SENT, sent_at=now, updated_at=now)
        .execution_options(**_QUIET)
    )
    return session.execute(statement).rowcount == 1


def release(session: Session, ids: list[int], *, state: str, now: datetime, why: str | None) -> int:
    """Hand held rows back (to `pending`, or `cancelled` when the send was cancelled)."""
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
    other workers before any mail goes out, and each outcome must reach the database before the
    next message, so that a killed worker re-sends at most the message that was in flight.
    Call `close()` when done (it hands back the outcome connection).
    """

    def __init__(self, session: Session, *, issue_id: int, batch: int) -> None:
        self.session = session
        self.issue_id = issue_id
        self.batch = batch
        bind = session.get_bind()
        # Autocommit needs a connection of its own: not possible when the caller bound the
        # session to a connection inside a transaction (as the tests do); commits then.
        self._autocommit = bind.dialect.name == "postgresql" and isinstance(bind, Engine)
        self._fast: Connection | None = None
        self._cursor: Any = None  # the driver's cursor on the fast connection, for _RECORD_PG

    def _connection(self) -> Connection:
        """PostgreSQL: an autocommit connection whose commits do not wait for the disk.

        Safe against a killed worker: an outcome the server answered is committed there. Only
        a crash of the database server itself can lose the latest outcomes (at most the last
        3 × wal_writer_delay, 0.6 s by default); those messages would go out again.
        """
        if self._fast is None:
            engine = self.session.get_bind()
            assert isinstance(engine, Engine)
            connection = engine.connect()
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("SET synchronous_commit TO OFF")
            self._fast = connection
        return self._fast

    def _run(self, statement: Executable, params: dict[str, Any] | None = None) -> list[Row]:
        """One step of the delivery loop, final when it returns, with its rows (if any).

        PostgreSQL: one autocommitted statement. Otherwise a transaction of its own, committed
        at once: on SQLite the process-wide write lock is never held while SMTP talks.
        """
        reads = isinstance(statement, Select)
        if self._autocommit:
            result = self._connection().execute(statement, params)
            return result.all() if reads else []
        result = self.session.execute(statement, params)
        rows = result.all() if reads else []
        self.session.commit()
        return rows

    def close(self) -> None:
        """Return the fast connection to the pool as it was found."""
        connection, self._fast, self._cursor = self._fast, None, None
        if connection is None:
            return
        try:
            connection.exec_driver_sql("RESET synchronous_commit")
        except Exception:  # a broken connection must not go back to the pool
            connection.invalidate()
            raise
        finally:
            connection.close()

    def issue_status(self) -> str | None:
        """The issue's status now (None if it is gone)."""
        rows = self._run(select(Issue.status).where(Issue.id == self.issue_id))
        return rows[0].status if rows else None

    def message_template(self, segment: int | None = None) -> bytes | None:
        """The finished message of the issue (or of one of its segments), stored when the
        send started."""
        if segment is None:
            query = select(Issue.message_template).where(Issue.id == self.issue_id)
        else:
            query = select(IssueSegment.message_template).where(
                IssueSegment.issue_id == self.issue_id, IssueSegment.number == segment
            )
        return self.session.scalar(query)

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
            .returning(Delivery.id, Delivery.subscriber_id, Delivery.attempts, Delivery.segment)
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
        return {row.id: (row.email, row.status) for row in self._run(query)}

    def renew(self, held: list[int], *, lease_until: datetime, now: datetime) -> None:
        """Extend the lease on the rows this batch still holds."""
        if held:
            self._run(
                update(_ROWS)
                .where(_ROWS.c.id.in_(held), _ROWS.c.state == DeliveryState.SENDING)
                .values(lease_until=lease_until, updated_at=now)
            )

    def record(self, outcome: Outcome, *, now: datetime) -> None:
        """Write one outcome, final once this returns (one statement, except for a bounce)."""
        values: dict[str, Any] = {
            "row_id": outcome.claimed.delivery_id,
            "new_state": outcome.state,
            "retry_at": outcome.not_before,
            "error": outcome.error,
            "now": now,
            "sent_now": now if outcome.state == DeliveryState.SENT else None,
        }
        if self._autocommit and outcome.state != DeliveryState.BOUNCED:
            for key in ("retry_at", "now", "sent_now"):
                if values[key] is not None:
                    values[key] = values[key].astimezone(UTC).replace(tzinfo=None)
            if self._cursor is None:
                self._cursor = self._connection().connection.driver_connection.cursor()
            self._cursor.execute(_RECORD_PG, values, prepare=True)
            return
        if outcome.state != DeliveryState.BOUNCED:
            self._run(_RECORD, values)
            return
        # A bounce: the outcome and the reader's suppression commit together.
        self.session.execute(_RECORD, values)
        reader = self.session.get(Subscriber, outcome.claimed.subscriber_id)
        if reader is not None:
            suppress(self.session, subscriber=reader, kind=SubscriberStatus.BOUNCED, now=now)
        self.session.commit()

    def give_back(self, held: list[int], *, now: datetime, why: str | None = None) -> None:
        """Release rows not yet tried: `pending` again, or `cancelled` if the issue was cancelled.

        The status is read under the issue's row lock, in the transaction that releases the
        rows: a cancel or a "send to the rest" committed in between cannot leave them in the
        state the issue no longer has (pending under a cancelled issue, found by nobody).
        """
        if not held:
            return
        status = self.session.scalar(
            select(Issue.status).where(Issue.id == self.issue_id).with_for_update()
        )
        cancelled = status == IssueStatus.CANCELLED
        state = DeliveryState.CANCELLED if cancelled else DeliveryState.PENDING
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
