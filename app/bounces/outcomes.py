"""The rules for late outcomes (SPEC §9): who a report is about, and what it does to them.

A report from mail (a DSN or an ARF report piped in or polled from the bounce mailbox) counts
only with a return-path token our keys signed: anyone can send mail to the bounce address, and
a report without a valid token changes nothing. A provider's webhook is authenticated by its
signature, so `trust_address=True` lets it name the reader by address when it carries no token.

- a permanent failure (5.x.x) suppresses the reader at once (`bounced`), except a refusal by
  policy (5.7.x: spam, DMARC, the sender's reputation), which judges the sender, not the address;
- a complaint suppresses at once (`complained`);
- a temporary failure (4.x.x) that the relay gave up on, or a 5.7.x refusal, suppresses after
  such failures in SOFT_LIMIT different issues within SOFT_WINDOW.

The delivery row takes the late outcome (a `sent` row becomes `bounced`, or `failed` for a
temporary failure; a complaint is noted), and every event goes into the reader's consent record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.bounces.events import Reading, Report
from app.config import Settings
from app.models import (
    BounceEvent,
    BounceKind,
    Delivery,
    DeliveryState,
    Issue,
    Subscriber,
    SubscriberStatus,
)
from app.readers.subscriptions import (
    InvalidAddress,
    Requester,
    normalise_email,
    record_consent,
    suppress,
)
from app.tokens import InvalidToken, MailRef, read_bounce_token

SOFT_LIMIT = 3
SOFT_WINDOW = timedelta(days=90)
# A delivered digest's Message-ID (emails.compose.make_message_id): issue and reader.
_DIGEST_MESSAGE_ID = re.compile(r"<?digest\.(\d{1,10})\.(\d{1,10})@[^>\s]+>?")


@dataclass(frozen=True)
class Applied:
    """What became of one report: a line for the operator, and whether anything changed."""

    action: str
    report: Report | None = None
    subscriber_id: int | None = None
    changed: bool = False


def apply_reading(
    session: Session,
    reading: Reading,
    *,
    source: str,
    settings: Settings,
    now: datetime,
    trust_address: bool = False,
) -> list[Applied]:
    """Apply every report of one message or payload; one `Applied` each (one if none)."""
    if not reading.reports:
        return [Applied(f"nothing to do: {reading.note or 'no bounce or complaint in it'}")]
    keys = settings.signing_keys()
    return [
        apply_report(
            session, report, source=source, keys=keys, now=now, trust_address=trust_address
        )
        for report in reading.reports
    ]


def apply_report(
    session: Session,
    report: Report,
    *,
    source: str,
    keys: list[str],
    now: datetime,
    trust_address: bool = False,
) -> Applied:
    """Match one report to a reader and apply the rules; a report that matches nobody is only
    reported."""
    subscriber, ref, why = _match(session, report, keys, trust_address=trust_address)
    if subscriber is None:
        return Applied(f"ignored: {why}", report)
    if subscriber.erased_at is not None:
        return Applied("ignored: the reader was erased", report, subscriber.id)
    issue_id = ref.issue_id if ref is not None else None
    if _seen_before(session, report, subscriber.id, issue_id, source):
        return Applied("already processed: nothing changed", report, subscriber.id)
    session.add(
        BounceEvent(
            subscriber_id=subscriber.id,
            issue_id=issue_id,
            kind=report.kind,
            status=report.status,
            diagnostic=(report.diagnostic or "")[:500] or None,
            source=source[:20],
            reference=(report.reference or "")[:300] or None,
            received_at=now,
        )
    )
    session.flush()
    noted = _note_delivery(session, report, subscriber.id, issue_id, now=now)
    action, changed = _apply_to_reader(session, report, subscriber, source=source, now=now)
    if noted:
        action += f"; {noted}"
    return Applied(action, report, subscriber.id, changed or bool(noted))


def _match(
    session: Session, report: Report, keys: list[str], *, trust_address: bool
) -> tuple[Subscriber | None, MailRef | None, str]:
    """The reader (and mail) a report is about, or None and why not."""
    forged = []
    for token in report.tokens:
        try:
            ref = read_bounce_token(keys, token)
        except InvalidToken:
            forged.append(token)
            continue
        subscriber = session.get(Subscriber, ref.subscriber_id)
        if subscriber is None:
            return None, ref, f"the token names reader {ref.subscriber_id}, who no longer exists"
        return subscriber, ref, ""
    if trust_address and report.recipient:
        try:
            address = normalise_email(report.recipient)
        except InvalidAddress:
            return None, None, f"the recipient {report.recipient!r} is not an address"
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
        if subscriber is None:
            return None, None, f"no reader has the address {address}"
        return subscriber, _digest_ref(session, report.message_id, subscriber.id), ""
    if forged:
        return None, None, f"forged or foreign token {forged[0]!r}: nothing changed"
    return None, None, "no return-path token of ours in it: nothing changed"


def _digest_ref(session: Session, message_id: str | None, subscriber_id: int) -> MailRef | None:
    """The digest a provider's event quotes by Message-ID, if it is this reader's copy of an
    issue that exists (the id is not signed: it only ever narrows, never widens, the match)."""
    match = _DIGEST_MESSAGE_ID.fullmatch((message_id or "").strip())
    if match is None or int(match.group(2)) != subscriber_id:
        return None
    issue_id = int(match.group(1))
    if session.get(Issue, issue_id) is None:
        return None
    return MailRef("digest", issue_id, subscriber_id)


def _seen_before(
    session: Session, report: Report, subscriber_id: int, issue_id: int | None, source: str
) -> bool:
    """The same report processed again (a mailbox poll that crashed before deleting it)."""
    if not report.reference:
        return False
    query = select(BounceEvent.id).where(
        BounceEvent.subscriber_id == subscriber_id,
        BounceEvent.reference == report.reference[:300],
        BounceEvent.kind == report.kind,
        BounceEvent.source == source[:20],
        BounceEvent.issue_id.is_(None) if issue_id is None else BounceEvent.issue_id == issue_id,
    )
    return session.scalar(query.limit(1)) is not None


def _note_delivery(
    session: Session, report: Report, subscriber_id: int, issue_id: int | None, *, now: datetime
) -> str:
    """Record the late outcome on the digest's ledger row; what was done, or ""."""
    if issue_id is None:
        return ""
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.issue_id == issue_id, Delivery.subscriber_id == subscriber_id
        )
    )
    if delivery is None:
        return ""
    said = " ".join(filter(None, [report.status, report.diagnostic]))[:400]
    if report.kind == BounceKind.COMPLAINT:
        delivery.last_error = "complaint: the reader reported this issue as spam"
        delivery.updated_at = now
        return f"noted on issue {issue_id}'s delivery"
    if delivery.state not in (DeliveryState.SENT, DeliveryState.UNKNOWN):
        return ""
    hard = report.kind == BounceKind.HARD and not _policy_refusal(report.status)
    late = DeliveryState.BOUNCED if hard else DeliveryState.FAILED
    delivery.state = late
    delivery.last_error = f"late {'bounce' if late == DeliveryState.BOUNCED else 'failure'}: {said}"
    delivery.updated_at = now
    return f"issue {issue_id}'s delivery marked {late}"


def _apply_to_reader(
    session: Session, report: Report, subscriber: Subscriber, *, source: str, now: datetime
) -> tuple[str, bool]:
    """Suppress, or count a failure that suppresses only when it repeats; the action line and
    whether the reader changed."""
    said = f" ({report.status})" if report.status else ""
    if report.kind == BounceKind.COMPLAINT:
        kind, channel = SubscriberStatus.COMPLAINED, f"complaint:{source}"
    elif report.kind == BounceKind.HARD and not _policy_refusal(report.status):
        kind, channel = SubscriberStatus.BOUNCED, f"bounce:{source}"
    else:
        # A temporary failure, or a 5.7.x refusal: the receiver's verdict on the sender (spam,
        # DMARC, reputation), not on the address. One DMARC mistake would otherwise suppress
        # every reader at that provider, so it counts like a temporary failure.
        what = "temporary failure" if report.kind == BounceKind.SOFT else "refused by policy"
        issues = _repeated_failures(session, subscriber, now=now)
        if issues < SOFT_LIMIT:
            record_consent(session, subscriber, "soft-bounce", Requester(channel=source), now)
            return f"{what}{said}: {issues} of {SOFT_LIMIT} issues", False
        kind, channel = SubscriberStatus.BOUNCED, f"soft-bounces:{source}"
        said = f" (failures in {issues} different issues)"
    if suppress(session, subscriber=subscriber, kind=kind, now=now, channel=channel):
        return f"reader {subscriber.id} {kind}{said}", True
    return f"reader {subscriber.id} was already {subscriber.status}{said}", False


def _policy_refusal(status: str | None) -> bool:
    """A 5.7.x status (RFC 3463 "security or policy status")."""
    return bool(status) and status.startswith("5.7.")


def _repeated_failures(session: Session, subscriber: Subscriber, *, now: datetime) -> int:
    """Different issues with a temporary failure or a policy refusal for this reader lately
    (within SOFT_WINDOW, and since they last confirmed)."""
    since = now - SOFT_WINDOW
    if subscriber.confirmed_at is not None and subscriber.confirmed_at > since:
        since = subscriber.confirmed_at
    policy = (BounceEvent.kind == BounceKind.HARD) & BounceEvent.status.like("5.7.%")
    query = select(func.count(func.distinct(BounceEvent.issue_id))).where(
        BounceEvent.subscriber_id == subscriber.id,
        (BounceEvent.kind == BounceKind.SOFT) | policy,
        BounceEvent.issue_id.is_not(None),
        BounceEvent.received_at >= since,
    )
    return session.scalar(query) or 0
