"""Transactional mail (confirmation, welcome): one connection a run, each reader by its verdict.

The same verdicts as the digest's (`transports.verdict`), without a ledger: a 4xx leaves the
reader for the run's retry; a hard bounce suppresses the address; any other refusal, and a
connection lost after the data went out, are given up (never sent twice); when the server
cannot be used at all, that reader and everyone after them are left for the retry.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import clock as app_clock
from app.config import Settings
from app.db import session_scope
from app.delivery.messenger import transport_from_settings
from app.delivery.transports import (
    DeliveryError,
    Transport,
    TransportUnavailable,
    Verdict,
    verdict,
)
from app.models import DeliveryState, Subscriber, SubscriberStatus
from app.readers.subscriptions import suppress

log = logging.getLogger(__name__)


# One reader's mail, `send_confirmation` or `send_welcome`: (session, *, subscriber_id, settings,
# transport, now) -> False when the reader is not due it (any more).
Mail = Callable[..., bool]


@dataclass
class MailRun:
    """What one run did: readers counted by outcome, and the readers to try again later."""

    outcomes: Counter[str] = field(default_factory=Counter)
    retry: list[int] = field(default_factory=list)
    error: Exception | None = None  # why the last reader was left for the retry


def send_each(
    mail: Mail,
    subscriber_ids: Sequence[int],
    *,
    settings: Settings,
    clock: Callable[[], datetime] = app_clock.now,
) -> MailRun:
    """Send `mail` to each reader over one connection, each in a transaction of its own."""
    run = MailRun()
    done = 0
    try:
        with transport_from_settings(settings) as transport:
            for subscriber_id in subscriber_ids:
                outcome = _send_one(mail, subscriber_id, settings, transport, clock, run)
                done += 1
                run.outcomes[outcome] += 1
                if outcome == Verdict.RETRY:
                    run.retry.append(subscriber_id)
    except TransportUnavailable as error:
        # The connection is gone: nobody left was tried, so all of them wait for the retry.
        left = list(subscriber_ids[done:])
        log.warning(
            "SMTP unavailable with %d %s mail(s) to send: %s", len(left), mail.__name__, error
        )
        run.outcomes[Verdict.RETRY] += len(left)
        run.retry += left
        run.error = error
    return run


def _send_one(
    mail: Mail,
    subscriber_id: int,
    settings: Settings,
    transport: Transport,
    clock: Callable[[], datetime],
    run: MailRun,
) -> str:
    """Send one reader's mail; its outcome. Only TransportUnavailable escapes.

    The mail is written in a transaction and sent after it ends: on SQLite every transaction
    holds the write lock, and an SMTP server may take seconds to answer.
    """
    try:
        held = _Held()
        with session_scope(settings.sqlalchemy_url) as session:
            due = mail(
                session, subscriber_id=subscriber_id, settings=settings, transport=held, now=clock()
            )
        for message in held.messages:
            transport.send(**message)
        return DeliveryState.SENT if due else DeliveryState.SKIPPED
    except (DeliveryError, ValueError) as error:
        outcome = verdict(error)
        if outcome == Verdict.UNAVAILABLE:
            raise
        if outcome == Verdict.RETRY:
            log.info("%s for reader %s deferred: %s", mail.__name__, subscriber_id, error)
            run.error = error
        elif outcome == Verdict.BOUNCED:
            _suppress_bounced(subscriber_id, settings, now=clock())
            log.warning("hard bounce for reader %s: %s", subscriber_id, error)
        else:  # failed, or unknown after DATA: never send twice
            log.error("%s for reader %s %s: %s", mail.__name__, subscriber_id, outcome, error)
        return outcome


class _Held:
    """Stands in for the transport while the mail is written: keeps what it was asked to send."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __enter__(self) -> _Held:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, *, sender: str, recipient: str, message: bytes) -> None:
        self.messages.append({"sender": sender, "recipient": recipient, "message": message})


def _suppress_bounced(subscriber_id: int, settings: Settings, *, now: datetime) -> None:
    """Stop mailing the address, in a transaction of its own (the mail's was rolled back)."""
    with session_scope(settings.sqlalchemy_url) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is not None:
            suppress(session, subscriber=subscriber, kind=SubscriberStatus.BOUNCED, now=now)
