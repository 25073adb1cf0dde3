"""One incoming message, from an MTA pipe, a file or the bounce mailbox: read it, apply it."""

from __future__ import annotations

from datetime import datetime

from app import clock
from app.bounces.outcomes import Applied, apply_reading
from app.bounces.reports import read_message
from app.config import Settings
from app.db import session_scope

MAX_MESSAGE_BYTES = 10_000_000  # a bounce quotes at most the message; a digest is ~100 KB


def process_message(
    raw: bytes, *, source: str, settings: Settings, now: datetime | None = None
) -> list[Applied]:
    """Read a raw message and apply what it reports, in one transaction.

    Never raises for what the message holds (junk is reported as such); a database error
    propagates, so the caller keeps the message and tries it again (the MTA pipe defers, the
    mailbox poller leaves it unread).
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return [Applied(f"ignored: {len(raw):,} bytes is too large for a bounce")]
    reading = read_message(raw)
    with session_scope(settings.sqlalchemy_url) as session:
        return apply_reading(
            session, reading, source=source, settings=settings, now=now or clock.now()
        )
