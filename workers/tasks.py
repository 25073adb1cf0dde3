"""Thin Celery tasks: ids in, call `app` logic in one transaction, short-lived and idempotent."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from celery import Task

from app import clock
from app.config import Settings, get_settings
from app.db import session_scope
from app.delivery.transports import (
    DeliveryError,
    HardBounce,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    TransportUnavailable,
    transport_from_settings,
)
from app.models import Subscriber
from app.readers.notifications import send_confirmation, send_welcome
from app.readers.subscriptions import suppress
from workers.celery_app import celery_app

log = logging.getLogger(__name__)


def _send_transactional(task: Task, send: Callable[..., bool], subscriber_id: int) -> bool:
    """Send one reader's transactional mail; retry transient trouble, suppress hard bounces."""
    settings = get_settings()
    try:
        with session_scope() as session, transport_from_settings(settings) as transport:
            return send(
                session,
                subscriber_id=subscriber_id,
                settings=settings,
                transport=transport,
                now=clock.now(),
            )
    except (TemporaryFailure, TransportUnavailable) as error:
        attempt, delays = task.request.retries, settings.retry_delays
        if attempt >= len(delays):
            log.error("giving up on %s for reader %s: %s", task.name, subscriber_id, error)
            return False
        raise task.retry(exc=error, countdown=delays[attempt], max_retries=len(delays)) from error
    except HardBounce as error:
        _suppress_bounced(subscriber_id, error)
        return False
    except (PermanentFailure, DeliveryError) as error:
        log.error("%s failed for reader %s: %s", task.name, subscriber_id, error)
        return False


@celery_app.task(name="digest.send_confirmation", bind=True)
def send_confirmation_task(self: Task, subscriber_id: int) -> bool:
    """Mail the double opt-in link."""
    return _send_transactional(self, send_confirmation, subscriber_id)


def _suppress_bounced(subscriber_id: int, error: HardBounce) -> None:
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is not None:
            suppress(session, subscriber=subscriber, kind="bounced", now=clock.now())
    log.warning("hard bounce for reader %s: %s", subscriber_id, error)


@celery_app.task(name="digest.send_confirmations", bind=True)
def send_confirmations_task(self: Task, subscriber_ids: list[int]) -> dict[str, int]:
    """Mail the double opt-in links of one subscribe batch over one SMTP connection."""
    settings = get_settings()
    outcomes: Counter[str] = Counter()
    pending, retry = list(subscriber_ids), []
    try:
        with transport_from_settings(settings) as transport:
            while pending:
                outcome = _confirm_one(pending[0], settings, transport)
                subscriber_id = pending.pop(0)
                outcomes[outcome] += 1
                if outcome == "retry":
                    retry.append(subscriber_id)
    except TransportUnavailable as error:
        # The connection is gone: nobody left was tried, so all of them wait for the retry.
        log.warning("SMTP unavailable with %d confirmation(s) to send: %s", len(pending), error)
        outcomes["retry"] += len(pending)
        retry += pending
    if retry:
        attempt, delays = self.request.retries, settings.retry_delays
        if attempt < len(delays):
            raise self.retry(args=(retry,), countdown=delays[attempt], max_retries=len(delays))
        log.error("giving up on confirmations for readers %s", retry)
    return dict(outcomes)


def _confirm_one(subscriber_id: int, settings: Settings, transport: Transport) -> str:
    """Send one reader's confirmation; its outcome. Only TransportUnavailable escapes."""
    try:
        with session_scope() as session:
            sent = send_confirmation(
                session,
                subscriber_id=subscriber_id,
                settings=settings,
                transport=transport,
                now=clock.now(),
            )
        return "sent" if sent else "skipped"
    except TransportUnavailable:
        raise
    except TemporaryFailure as error:
        log.info("confirmation for reader %s deferred: %s", subscriber_id, error)
        return "retry"
    except HardBounce as error:
        _suppress_bounced(subscriber_id, error)
        return "bounced"
    except DeliveryError as error:  # permanent, or unknown after DATA: never send twice
        log.error("confirmation for reader %s failed: %s", subscriber_id, error)
        return "failed"


@celery_app.task(name="digest.send_welcome", bind=True)
def send_welcome_task(self: Task, subscriber_id: int) -> bool:
    """Mail the welcome after confirmation."""
    return _send_transactional(self, send_welcome, subscriber_id)


@celery_app.task(name="digest.draft_weekly_issue")
def draft_weekly_issue_task() -> int | None:
    """Draft or refresh the issue of the week that just ended; with autosend on, start its send."""
    # Imported here so this task stays a self-contained addition to the module.
    from app.db import enqueue
    from app.issues.drafts import IssueLocked, draft_issue
    from app.weeks import last_complete_week

    settings = get_settings()
    now = clock.now()
    week = last_complete_week(now)
    try:
        with session_scope() as session:
            issue = draft_issue(session, week=week, now=now, settings=settings)
            # An empty week sends nothing (SPEC §7.6); the draft's note says why.
            if settings.autosend and issue.items:
                enqueue(session, "digest.start_send", issue.id)
            return issue.id
    except IssueLocked as error:
        # A second beat run, or an editor already sent it: nothing more to do.
        log.info("weekly draft skipped: %s", error)
        return None


@celery_app.task(name="digest.poll_feeds")
def poll_feeds_task() -> int:
    """Queue one `digest.poll_feed` per feed (beat runs this every DIGEST_FEED_POLL_MINUTES)."""
    from app.posts.feeds import enqueue_feed_polls

    with session_scope() as session:
        return enqueue_feed_polls(session)


@celery_app.task(name="digest.poll_feed")
def poll_feed_task(feed_id: int) -> str | None:
    """Poll one feed; its outcome is recorded on the feed (a broken feed never raises)."""
    from app.models import Feed
    from app.posts.feeds import poll_feed

    with session_scope() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            return None  # removed since it was queued
        return poll_feed(session, feed, settings=get_settings(), now=clock.now())["status"]


# --- the send engine (SPEC §8–9) ---------------------------------------------------------------

# A batch with 4xx retries due within this many seconds queues itself again; later ones are
# left to the sweeper (every 60 s), so no task waits long in the broker (STYLE: no long countdowns).
SEND_RETRY_COUNTDOWN_LIMIT = 60


@celery_app.task(name="digest.start_send")
def start_send_task(issue_id: int) -> bool:
    """Start sending an issue (autosend, or an admin action queued); a repeat does nothing."""
    from app.delivery import SendError, start_send
    from app.issues.mail import NothingToSend

    try:
        with session_scope() as session:
            return start_send(session, issue_id=issue_id, now=clock.now(), settings=get_settings())
    except (SendError, NothingToSend) as error:
        log.warning("issue %s not sent: %s", issue_id, error)
        return False


@celery_app.task(name="digest.queue_batches")
def queue_batches_task(issue_id: int, first: int, end: int) -> int:
    """Publish `digest.send_batch` for batches first..end-1 of a large send (fan-out)."""
    from app.db import publish

    for batch in range(first, end):
        publish("digest.send_batch", issue_id, batch)
    return end - first


@celery_app.task(name="digest.send_batch", bind=True)
def send_batch_task(self: Task, issue_id: int, batch: int) -> dict[str, int]:
    """Deliver one batch of an issue over one SMTP connection; duplicates of this task are safe."""
    import math

    from app.db import session_factory
    from app.delivery import send_batch

    settings = get_settings()
    result = send_batch(
        session_factory(),
        issue_id=issue_id,
        batch=batch,
        settings=settings,
        transport=transport_from_settings(settings),
    )
    if result.claimed and result.retry_at is not None:
        wait = (result.retry_at - clock.now()).total_seconds()
        if wait <= SEND_RETRY_COUNTDOWN_LIMIT:
            self.apply_async(args=(issue_id, batch), countdown=max(1, math.ceil(wait)))
    return {"claimed": result.claimed, **result.outcomes}


@celery_app.task(name="digest.sweep")
def sweep_task() -> dict[str, int]:
    """Re-queue stale send work (beat, every minute)."""
    from app.delivery import sweep

    with session_scope() as session:
        return sweep(session, now=clock.now(), settings=get_settings())
