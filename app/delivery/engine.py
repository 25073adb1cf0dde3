"""Start a send and deliver one batch: the flow between the ledger (store) and the transport."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app import clock as app_clock
from app import jobs
from app.config import Settings
from app.db import enqueue, publish, session_factory
from app.delivery.ledger import Claimed, Ledger, Outcome, finish_if_done, freeze_recipients
from app.delivery.messenger import transport_from_settings
from app.delivery.returns import return_path
from app.delivery.transports import (
    DeliveryError,
    Transport,
    TransportUnavailable,
    Verdict,
    retry_delay,
    verdict,
)
from app.errors import Conflict
from app.issues.errors import IssueNotFound
from app.issues.mail import dkim_signer, prepare_issue_message, prepare_variant_message
from app.issues.segments import OVERALL, due_readers, plan_segments, segment_numbers
from app.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueSegment,
    IssueStatus,
    SubscriberStatus,
)
from app.readers.links import reader_links
from app.readers.notifications import sender_domain
from app.tokens import MailRef, Signer
from emails.compose import MessageTemplate, make_message_id

log = logging.getLogger(__name__)
CHECKPOINT = 50  # messages between re-reads of the issue's status and the readers' status


FANOUT = 200  # batches queued by one request or one fan-out task
# A batch with 4xx retries due within this many seconds queues itself again for then; later
# ones are left to the sweeper (every 60 s), so no task waits long in the broker (STYLE).
REQUEUE_WITHIN = 60


class SendError(Conflict):
    """A send operation that cannot be done; the message says why. (No such issue is
    `IssueNotFound`, from `app.issues.errors`.)"""


class SendRefused(SendError):
    """The issue is in a state that does not allow this (e.g. Send on a cancelled issue)."""


def load_issue(session: Session, issue_id: int) -> Issue:
    """The issue as the database has it now, or IssueNotFound."""
    issue = session.get(Issue, issue_id, populate_existing=True)
    if issue is None:
        raise IssueNotFound(issue_id, f"there is no issue {issue_id}")
    return issue


def start_send(session: Session, *, issue_id: int, now: datetime, settings: Settings) -> bool:
    """Freeze the recipients, render once per segment, queue the batches; False if already
    sending or sent.

    Only a draft starts, through `UPDATE … WHERE status = 'draft'`: of two concurrent calls one
    wins, the other changes nothing. An issue with no posts raises `NothingToSend`. The issue's
    own message is the overall list (the archive's); each segment of readers who share a
    selection gets its list rendered once (`app.issues.segments`). A reader whose selection
    changed after the segments were planned, in the same instant, gets the overall one.
    """
    issue = load_issue(session, issue_id)
    if issue.status in (IssueStatus.SENDING, IssueStatus.SENT):
        return False
    if issue.status != IssueStatus.DRAFT:
        raise SendRefused(f"issue {issue_id} is {issue.status}; only a draft can be sent")
    if refusal := settings.digest_send_refusal():
        raise SendRefused(refusal)
    signer = Signer(settings.signing_keys())
    overall = prepare_issue_message(
        session, issue, settings=settings, signer=signer, now=now
    ).dumps()
    won = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.DRAFT)
        .values(
            status=IssueStatus.SENDING,
            message_template=overall,
            pause_reason=None,
            send_started_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return False
    segments = plan_segments(session, issue, settings=settings, now=now)
    for segment in segments:
        # Readers of everything, weekly, get the issue's own message: rendered once, above.
        # Its links name no segment, and a click without one counts as theirs ("").
        if (segment.variant.key, segment.variant.cadence) == OVERALL:
            message = overall
        else:
            message = prepare_variant_message(
                session,
                issue,
                segment.variant,
                settings=settings,
                signer=signer,
                now=now,
                segment=segment.number,
            ).dumps()
        session.add(
            IssueSegment(
                issue_id=issue_id,
                number=segment.number,
                sections=segment.variant.key,
                cadence=segment.variant.cadence,
                item_ids=[item.id for item in segment.variant.items],
                readers=segment.readers,
                message_template=message,
                created_at=now,
            )
        )
    readers = freeze_recipients(
        session,
        issue_id=issue_id,
        batch_size=settings.batch_size,
        now=now,
        who=due_readers(issue.week, now=now),
        segments=segment_numbers(segments),
    )
    queue_batches(session, issue_id=issue_id, batches=-(-readers // settings.batch_size))
    if readers == 0:
        finish_if_done(session, issue_id=issue_id, now=now)  # nobody to mail: sent at once
    session.expire(issue)
    log.info("issue %s: send started to %s readers", issue_id, readers)
    return True


def queue_batches(session: Session, *, issue_id: int, batches: int) -> None:
    """Queue the batches after commit: directly when few, else through fan-out tasks.

    Publishing costs ~1 ms a task: 5,000 batches (a million readers) would hold the request
    for seconds, so past FANOUT batches a few `digest.queue_batches` tasks publish them instead.
    """
    if batches <= FANOUT:
        for batch in range(batches):
            enqueue(session, jobs.SEND_BATCH, issue_id, batch)
        return
    for first in range(0, batches, FANOUT):
        enqueue(session, jobs.QUEUE_BATCHES, issue_id, first, min(batches, first + FANOUT))


def publish_batches(*, issue_id: int, first: int, end: int) -> int:
    """The fan-out task's work: publish batches first..end-1 of a large send; how many."""
    for batch in range(first, end):
        publish(jobs.SEND_BATCH, issue_id, batch)
    return end - first


@dataclass
class BatchResult:
    """What one run of a batch did: rows claimed, outcomes by state, and what comes next."""

    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    paused: str | None = None
    retry_at: datetime | None = None
    finished: bool = False


def pause_reason(error: TransportUnavailable) -> str:
    """A reason an admin can read: "SMTP authentication failed: 535 5.7.8 …"."""
    head, colon, tail = error.reply.partition(": ")
    if error.code is None:
        return f"SMTP {error.reply}"
    return f"SMTP {head}: {error.code} {tail}" if colon else f"SMTP {error.code} {error.reply}"


class _Delivery:
    """Per-batch constants for turning a claimed row into a sent message and an outcome."""

    def __init__(
        self,
        settings: Settings,
        *,
        issue_id: int,
        templates: Mapping[int | None, MessageTemplate],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.issue_id = issue_id
        self.templates = templates  # by segment; None: the issue's own (overall) message
        self.clock = clock
        self.signer = Signer(settings.signing_keys())
        self.sign = dkim_signer(settings)
        self.domain = sender_domain(settings)
        self.base = settings.public_base_url
        # Without DIGEST_BOUNCE_ADDRESS every copy has the same envelope sender: work it out once.
        self.sender = None if settings.bounce_address else return_path(settings, None)

    def message(self, claimed: Claimed, address: str) -> bytes:
        """The reader's copy: the stored bytes with their address, Message-ID and links filled."""
        reader = claimed.subscriber_id
        links = reader_links(self.base, self.signer, reader)
        message = self.templates[claimed.segment].fill(
            to=address,
            message_id=make_message_id(
                kind="digest",
                issue_id=self.issue_id,
                subscriber_id=reader,
                domain=self.domain,
            ),
            unsubscribe_url=links.unsubscribe,
            manage_url=links.manage,
        )
        return self.sign(message) if self.sign is not None else message

    def attempt(
        self, claimed: Claimed, reader: tuple[str, str] | None, transport: Transport
    ) -> Outcome:
        """Send one message and say where its row goes; TransportUnavailable propagates."""
        if reader is None or reader[1] != SubscriberStatus.CONFIRMED:
            status = reader[1] if reader else "deleted"
            return Outcome(claimed, DeliveryState.SKIPPED, f"reader {status} before sending")
        try:
            message = self.message(claimed, reader[0])
            ref = MailRef("digest", self.issue_id, claimed.subscriber_id)
            sender = self.sender or return_path(self.settings, ref)
            transport.send(sender=sender, recipient=reader[0], message=message)
        except (DeliveryError, ValueError) as error:
            return self._failed(claimed, error)
        return Outcome(claimed, DeliveryState.SENT)

    def _failed(self, claimed: Claimed, error: DeliveryError | ValueError) -> Outcome:
        """Where the row goes after a failed send, by the transports' verdict."""
        match verdict(error):
            case Verdict.UNAVAILABLE:
                raise error  # the whole batch stops and the issue pauses (`_deliver`)
            case Verdict.RETRY:
                tries = claimed.attempts + 1
                delay = retry_delay(self.settings.retry_delays, tries)
                if delay is None:
                    why = f"gave up after {tries} tries: {error}"
                    return Outcome(claimed, DeliveryState.FAILED, why)
                due = self.clock() + timedelta(seconds=delay)
                return Outcome(claimed, DeliveryState.PENDING, str(error), not_before=due)
            case Verdict.BOUNCED:  # the ledger suppresses the reader with this outcome
                return Outcome(claimed, DeliveryState.BOUNCED, str(error))
            case Verdict.UNKNOWN:
                return Outcome(claimed, DeliveryState.UNKNOWN, str(error))
            case Verdict.FAILED if isinstance(error, ValueError):
                return Outcome(claimed, DeliveryState.FAILED, f"cannot address: {error}")
            case _:
                return Outcome(claimed, DeliveryState.FAILED, str(error))


def _deliver(
    ledger: Ledger,
    delivery: _Delivery,
    transport: Transport,
    claimed: list[Claimed],
    result: BatchResult,
) -> None:
    """Send every claimed row over one connection, recording each outcome before the next goes."""
    clock, lease = delivery.clock, timedelta(seconds=delivery.settings.lease_seconds)
    held = {row.delivery_id: row for row in claimed}
    renew_at = clock() + lease / 2  # the claim leased the rows for a whole lease
    in_flight: int | None = None
    try:
        with transport:
            for start in range(0, len(claimed), CHECKPOINT):
                chunk = claimed[start : start + CHECKPOINT]
                status = ledger.issue_status()
                if status != IssueStatus.SENDING:
                    log.info("issue %s is %s: batch stops", ledger.issue_id, status)
                    return
                readers = ledger.readers([row.subscriber_id for row in chunk])
                for row in chunk:
                    if clock() >= renew_at:  # a slow batch: keep its rows from the sweeper
                        ledger.renew(list(held), lease_until=clock() + lease, now=clock())
                        renew_at = clock() + lease / 2
                    in_flight = row.delivery_id
                    outcome = delivery.attempt(row, readers.get(row.subscriber_id), transport)
                    ledger.record(outcome, now=clock())
                    del held[row.delivery_id]
                    in_flight = None
                    result.outcomes[outcome.state] += 1
    except TransportUnavailable as error:
        in_flight = None  # refused before anything went out: safe to try again later
        result.paused = pause_reason(error)
        ledger.session.rollback()
        ledger.pause(result.paused, now=clock())
        log.warning("issue %s paused: %s", ledger.issue_id, result.paused)
    finally:
        # An unexpected error leaves the in-flight row leased: the sweeper decides after the lease.
        ledger.session.rollback()
        ledger.give_back([i for i in held if i != in_flight], now=clock())


def _templates(
    ledger: Ledger, stored: bytes, segments: set[int | None]
) -> dict[int | None, MessageTemplate]:
    """The stored messages a batch's rows need, loaded once per batch: the issue's own and
    one per segment named. A segment without a stored message (none of this engine's
    sends leaves one) gets the issue's own, with a warning."""
    overall = MessageTemplate.loads(stored)
    templates: dict[int | None, MessageTemplate] = {None: overall}
    for segment in sorted(s for s in segments if s is not None):
        data = ledger.message_template(segment)
        if data is None:
            log.warning("issue %s: segment %s has no stored message", ledger.issue_id, segment)
        templates[segment] = MessageTemplate.loads(data) if data is not None else overall
    return templates


def send_batch(
    sessions: sessionmaker[Session],
    *,
    issue_id: int,
    batch: int,
    settings: Settings,
    transport: Transport,
    clock: Callable[[], datetime] = app_clock.now,
) -> BatchResult:
    """Claim a batch's due rows, send them over one connection (opened only if there is work)."""
    result = BatchResult()
    with sessions() as session:
        ledger = Ledger(session, issue_id=issue_id, batch=batch)
        try:
            if ledger.issue_status() != IssueStatus.SENDING:
                return result
            stored = ledger.message_template()
            if stored is None:
                raise SendError(f"issue {issue_id} is sending but has no stored message")
            now = clock()
            lease_until = now + timedelta(seconds=settings.lease_seconds)
            claimed = ledger.claim(now=now, lease_until=lease_until)
            result.claimed = len(claimed)
            if claimed:
                templates = _templates(ledger, stored, {row.segment for row in claimed})
                delivery = _Delivery(settings, issue_id=issue_id, templates=templates, clock=clock)
                _deliver(ledger, delivery, transport, claimed, result)
            result.retry_at = ledger.next_retry()
            result.finished = ledger.finish(now=clock())
        finally:
            ledger.close()
    return result


def run_batch(
    *,
    issue_id: int,
    batch: int,
    settings: Settings,
    clock: Callable[[], datetime] = app_clock.now,
) -> dict[str, int]:
    """The `digest.send_batch` task's work: `send_batch` on the configured database and
    transport, then the batch published again if its 4xx retries are due soon."""
    result = send_batch(
        session_factory(settings.sqlalchemy_url),
        issue_id=issue_id,
        batch=batch,
        settings=settings,
        transport=transport_from_settings(settings),
        clock=clock,
    )
    countdown = requeue_countdown(result, now=clock())
    if countdown is not None:
        publish(jobs.SEND_BATCH, issue_id, batch, countdown=countdown)
    return {"claimed": result.claimed, **result.outcomes}


def requeue_countdown(result: BatchResult, *, now: datetime) -> int | None:
    """Seconds until a batch that just ran should run again for its 4xx retries (at least 1).

    None when it claimed nothing (another run has the rows) or no retry is due within
    REQUEUE_WITHIN seconds: a later retry is the sweeper's.
    """
    if not result.claimed or result.retry_at is None:
        return None
    wait = (result.retry_at - now).total_seconds()
    return max(1, math.ceil(wait)) if wait <= REQUEUE_WITHIN else None


def batches_with_work(session: Session, issue_id: int) -> list[int]:
    """Batch numbers of the issue that still have pending rows."""
    query = (
        select(Delivery.batch)
        .where(Delivery.issue_id == issue_id, Delivery.state == DeliveryState.PENDING)
        .distinct()
        .order_by(Delivery.batch)
    )
    return list(session.scalars(query))
