"""Bulk import of readers who gave consent elsewhere (a sign-up sheet, an older list)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Subscriber, SubscriberStatus
from app.readers.names import one_line_name
from app.readers.privacy import erased_addresses
from app.readers.subscriptions import (
    InvalidAddress,
    Requester,
    normalise_email,
    record_consent,
)


@dataclass
class ImportReport:
    """What an import did, with each bad row named by its line."""

    created: int = 0
    confirmed_existing: int = 0
    unchanged: int = 0
    # Addresses whose reader asked to be erased: refused, each named by its line.
    suppressed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


ERASED_REASON = "erased at the reader's request: an import cannot bring this address back"


def import_subscribers(
    session: Session,
    *,
    rows: Iterable[tuple[int, str, str | None]],
    consent_source: str,
    now: datetime,
    keys: Sequence[str],
) -> ImportReport:
    """Import (line, email, name) rows as confirmed readers; bad rows are reported, not fatal.

    Unsubscribed and suppressed readers stay as they are: an import never resubscribes anyone.
    Nor does it bring back an erased address: its keyed hash (under any of `keys`, the secret
    keys) matches the erased reader's, and the row is skipped as suppressed. Only the reader
    can come back, through the subscribe form and its confirmation.
    """
    report = ImportReport()
    requester = Requester(channel=f"import:{consent_source}"[:100])
    seen: set[str] = set()
    valid: list[tuple[int, str, str | None]] = []
    for line, raw_email, name in rows:
        try:
            email = normalise_email(raw_email)
        except InvalidAddress as error:
            report.errors.append(
                {"line": line, "email": str(raw_email)[:320], "reason": error.reason}
            )
            continue
        if email in seen:
            report.errors.append(
                {"line": line, "email": email, "reason": "duplicate in this import"}
            )
            continue
        seen.add(email)
        valid.append((line, email, name))
    erased = erased_addresses(session, keys, seen)
    for line, email, name in valid:
        if email in erased:
            report.suppressed += 1
            report.skipped.append({"line": line, "email": email, "reason": ERASED_REASON})
            continue
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if subscriber is None:
            subscriber = Subscriber(
                email=email,
                name=one_line_name(name),
                status=SubscriberStatus.CONFIRMED,
                source=requester.channel,
                created_at=now,
                updated_at=now,
                confirmed_at=now,
                confirm_nonce=0,
            )
            session.add(subscriber)
            session.flush()
            record_consent(session, subscriber, "import", requester, now)
            report.created += 1
        elif subscriber.status == SubscriberStatus.PENDING:
            subscriber.status = SubscriberStatus.CONFIRMED
            subscriber.confirmed_at = now
            subscriber.updated_at = now
            record_consent(session, subscriber, "import", requester, now)
            report.confirmed_existing += 1
        else:
            report.unchanged += 1
    return report
