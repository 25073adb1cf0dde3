"""Thin Celery tasks: ids in, call `app` logic in one transaction, short-lived and idempotent.

Shared tasks: they belong to whichever Celery app the process made (`workers.celery_app`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Task, shared_task

from app import clock, jobs
from app.bounces.mailbox import MailboxError, poll_mailbox
from app.config import Settings, get_settings
from app.db import session_scope
from app.delivery.control import sweep
from app.delivery.engine import SendError, publish_batches, run_batch, start_send
from app.delivery.transactional import MailRun, send_each
from app.delivery.transports import retry_delay
from app.issues.errors import IssueNotFound
from app.issues.mail import NothingToSend
from app.posts.feeds import enqueue_feed_polls, poll_feed_by_id
from app.readers.notifications import send_confirmation, send_welcome

log = logging.getLogger(__name__)


# --- the reader's transactional mail ------------------------------------------------------------


@shared_task(name=jobs.SEND_CONFIRMATIONS, bind=True)
def send_confirmations_task(self: Task, subscriber_ids: list[int]) -> dict[str, int]:
    """Mail the double opt-in links of one subscribe batch over one SMTP connection."""
    settings = get_settings()
    run = send_each(send_confirmation, subscriber_ids, settings=settings)
    _retry_later(self, run, (run.retry,), settings)
    return dict(run.outcomes)


@shared_task(name=jobs.SEND_WELCOME, bind=True)
def send_welcome_task(self: Task, subscriber_id: int) -> bool:
    """Mail the welcome after confirmation."""
    settings = get_settings()
    run = send_each(send_welcome, [subscriber_id], settings=settings)
    _retry_later(self, run, (subscriber_id,), settings)
    return run.outcomes["sent"] > 0


def _retry_later(task: Task, run: MailRun, args: Sequence[Any], settings: Settings) -> None:
    """Run the task again for `run.retry` after the next retry delay (Celery counts the tries)."""
    if not run.retry:
        return
    delays = settings.retry_delays
    delay = retry_delay(delays, task.request.retries + 1)
    if delay is None:
        log.error("giving up on %s for readers %s: %s", task.name, run.retry, run.error)
        return
    raise task.retry(args=args, exc=run.error, countdown=delay, max_retries=len(delays))


# --- posts and the weekly issue -----------------------------------------------------------------


@shared_task(name=jobs.DRAFT_WEEKLY_ISSUE)
def draft_weekly_issue_task() -> int | None:
    """Draft or refresh the issue of the week that just ended; with autosend on, start its send."""
    # Not a circle: ranking loads numpy, SciPy and scikit-learn (about 90 MiB and a second per
    # process). Imported here, only the worker that drafts the week pays that; senders stay lean.
    from app.delivery.weekly import draft_weekly

    settings = get_settings()
    with session_scope(settings.sqlalchemy_url) as session:
        return draft_weekly(session, now=clock.now(), settings=settings)


@shared_task(name=jobs.POLL_FEEDS)
def poll_feeds_task() -> int:
    """Queue one `digest.poll_feed` per feed (beat runs this every DIGEST_FEED_POLL_MINUTES)."""
    with session_scope(get_settings().sqlalchemy_url) as session:
        return enqueue_feed_polls(session)


@shared_task(name=jobs.POLL_FEED)
def poll_feed_task(feed_id: int) -> str | None:
    """Poll one feed; its outcome is recorded on the feed (a broken feed never raises).

    No transaction is open while the feed's host answers (see `poll_feed_by_id`)."""
    result = poll_feed_by_id(feed_id, settings=get_settings(), now=clock.now())
    return None if result is None else result["status"]  # None: removed since it was queued


# --- late bounces and complaints (SPEC §9) ------------------------------------------------------


@shared_task(name=jobs.POLL_BOUNCES)
def poll_bounces_task() -> dict[str, int] | None:
    """Apply what arrived in the bounce mailbox (beat, every DIGEST_BOUNCE_POLL_MINUTES)."""
    settings = get_settings()
    if not settings.bounce_mailbox:
        return None  # unset since beat queued it
    try:
        return poll_mailbox(settings).as_dict()
    except MailboxError as error:  # one line, not a trace: the next poll tries again
        log.warning("%s", error)
        return None


# --- the send engine (SPEC §8–9) ----------------------------------------------------------------


@shared_task(name=jobs.START_SEND)
def start_send_task(issue_id: int) -> bool:
    """Start sending an issue (autosend, or an admin action queued); a repeat does nothing."""
    settings = get_settings()
    try:
        with session_scope(settings.sqlalchemy_url) as session:
            return start_send(session, issue_id=issue_id, now=clock.now(), settings=settings)
    except (SendError, IssueNotFound, NothingToSend) as error:  # nobody waits: say it in the log
        log.warning("issue %s not sent: %s", issue_id, error)
        return False


@shared_task(name=jobs.QUEUE_BATCHES)
def queue_batches_task(issue_id: int, first: int, end: int) -> int:
    """Publish `digest.send_batch` for batches first..end-1 of a large send (fan-out)."""
    return publish_batches(issue_id=issue_id, first=first, end=end)


@shared_task(name=jobs.SEND_BATCH)
def send_batch_task(issue_id: int, batch: int) -> dict[str, int]:
    """Deliver one batch of an issue over one SMTP connection; duplicates of this task are safe."""
    return run_batch(issue_id=issue_id, batch=batch, settings=get_settings())


@shared_task(name=jobs.SWEEP)
def sweep_task() -> dict[str, int]:
    """Re-queue stale send work (beat, every minute)."""
    settings = get_settings()
    with session_scope(settings.sqlalchemy_url) as session:
        return sweep(session, now=clock.now(), settings=settings)
