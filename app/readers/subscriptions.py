"""Subscribe, confirm, unsubscribe, import: the reader's state machine. Services never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, caching_resolver, validate_email
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import jobs
from app.db import enqueue
from app.errors import Invalid
from app.models import ConsentEvent, Subscriber, SubscriberStatus, UTCDateTime
from app.readers.names import clean_name, one_line_name
from app.sections import EVERYTHING, split_key
from app.tokens import (
    CONFIRM,
    UNSUBSCRIBE,
    InvalidToken,
    Signer,
    manage_link_token,
    read_manage_link_token,
)

MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit


class InvalidAddress(Invalid):
    """The address cannot receive mail; `reason` is shown to the reader."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache
def _resolver(timeout: float) -> Any:
    resolver = caching_resolver(timeout=timeout)
    resolver.lifetime = timeout
    return resolver


def normalise_email(
    raw: str, *, check_deliverability: bool = False, dns_timeout: float = 1.0
) -> str:
    """The canonical form of an address (email-validator), or `InvalidAddress` with a reason."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidAddress("Please enter an email address.")
    if any(char in raw for char in "\r\n\0"):
        raise InvalidAddress("The email address must be on one line.")
    if len(raw) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"The email address is too long (at most {MAX_ADDRESS_LENGTH}).")
    try:
        options: dict[str, Any] = {"check_deliverability": check_deliverability}
        if check_deliverability:
            options["dns_resolver"] = _resolver(dns_timeout)
        # Mail goes out as plain ASCII (no SMTPUTF8): an international domain becomes punycode,
        # and a non-ASCII mailbox name is refused now rather than failing at the first send.
        result = validate_email(raw.strip(), allow_smtputf8=False, **options)
    except EmailNotValidError as error:
        if not raw.partition("@")[0].isascii():
            raise InvalidAddress(
                "Addresses with non-ASCII characters before the @ are not supported yet."
            ) from error
        raise InvalidAddress(str(error)) from error
    return (result.ascii_email or result.normalized).lower()


@dataclass(frozen=True)
class Requester:
    """Who asked, for the consent record."""

    ip: str | None = None
    user_agent: str | None = None
    channel: str = "form"


def record_consent(
    session: Session,
    subscriber: Subscriber,
    kind: str,
    requester: Requester,
    now: datetime,
    consent_text_version: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one event to the reader's consent record (`detail`: what a change set)."""
    row = _consent_row(subscriber.id, subscriber.email, kind, requester, now, consent_text_version)
    session.add(ConsentEvent(**row, detail=detail and detail[:300]))


def _consent_row(
    subscriber_id: int,
    email: str,
    kind: str,
    requester: Requester,
    now: datetime,
    consent_text_version: str | None,
) -> dict[str, Any]:
    """The columns of one consent record, bounded to what the table holds."""
    return {
        "subscriber_id": subscriber_id,
        "email": email,
        "kind": kind,
        "at": now,
        "ip": (requester.ip or None) and requester.ip[:64],
        "user_agent": (requester.user_agent or None) and requester.user_agent[:400],
        "channel": requester.channel[:100],
        "consent_text_version": consent_text_version,
    }


def sections_detail(selection: str) -> str:
    """A selection key as a consent record's detail: "sections: wind, policy" or "everything"."""
    return "sections: " + (", ".join(split_key(selection)) or "everything")


def _restart(
    subscriber: Subscriber,
    *,
    name: str | None,
    sections: str,
    now: datetime,
    resend_after: timedelta,
) -> bool:
    """Apply a repeated request to a known reader; True when a confirmation is due.

    Only a subscription that starts over takes the request's sections: anyone can type a
    confirmed reader's address, so their choice changes only in their preference centre."""
    if subscriber.status in (SubscriberStatus.CONFIRMED, *SubscriberStatus.SUPPRESSED):
        return False
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.PENDING
        subscriber.confirmation_sent_at = None
        subscriber.updated_at = now
    elif (
        subscriber.confirmation_sent_at is not None
        and now - subscriber.confirmation_sent_at < resend_after
    ):
        return False
    if name and not subscriber.name:
        subscriber.name = clean_name(name)
    subscriber.sections = sections
    return True


@dataclass(frozen=True)
class SubscriptionRequest:
    """One reader's request to subscribe: a normalised address, a name, who asked, and the
    selection key of the sections they ticked (`Sections.choose`; "" = everything)."""

    email: str
    name: str | None
    requester: Requester
    sections: str = EVERYTHING


def request_subscriptions(
    session: Session,
    *,
    requests: Sequence[SubscriptionRequest],
    now: datetime,
    consent_text_version: str,
    resend_after: timedelta = timedelta(minutes=10),
) -> list[int]:
    """Start (or restart) double opt-in for already-normalised addresses; the ids now due a
    confirmation, all of them queued in one `digest.send_confirmations` after commit.

    The caller answers the same whatever happens here, so nobody learns who is subscribed.
    New, pending (at most one mail per `resend_after`) and previously unsubscribed readers are
    due; confirmed and suppressed ones get nothing. The requests apply in order, so a second
    request for an address in the same batch finds it just handled and sends nothing.
    """
    first: dict[str, SubscriptionRequest] = {}
    for request in requests:
        first.setdefault(request.email, request)
    if not first:
        return []
    chosen = {email: request.sections for email, request in first.items()}
    session.flush()  # the Core insert below must see readers this session has not written yet
    # Insert first: new addresses (the usual case) cost one statement and no ORM objects.
    due = _insert_new(session, list(first.values()), now=now)
    for _id, email, _requester in due:
        del first[email]
    if first:  # addresses already known: the ORM applies the restart rules to them
        # Locked, in id order: a concurrent batch restarting the same reader waits, then sees
        # the confirmation this one sent (no second one), and two batches never deadlock.
        known = session.scalars(
            select(Subscriber)
            .where(Subscriber.email.in_(list(first)))
            .order_by(Subscriber.id)
            .with_for_update(key_share=True)
        )
        for subscriber in known:
            request = first[subscriber.email]
            if _restart(
                subscriber,
                name=request.name,
                sections=request.sections,
                now=now,
                resend_after=resend_after,
            ):
                subscriber.confirmation_sent_at = now
                due.append((subscriber.id, subscriber.email, request.requester))
    if not due:
        return []
    _insert_consents(
        session,
        [
            {
                **_consent_row(
                    subscriber_id, email, "subscribe-request", requester, now, consent_text_version
                ),
                "detail": sections_detail(chosen[email]),
            }
            for subscriber_id, email, requester in due
        ],
    )
    ids = [subscriber_id for subscriber_id, _email, _requester in due]
    enqueue(session, jobs.SEND_CONFIRMATIONS, ids)
    return ids


def _insert_new(
    session: Session, requests: list[SubscriptionRequest], *, now: datetime, imported: bool = False
) -> list[tuple[int, str, Requester]]:
    """Insert the addresses nobody has yet in one statement; (id, email, requester) of those.

    New readers are pending, their confirmation due now; `imported` ones (`app.readers.importing`)
    are confirmed now instead, their names kept as the editor's list has them (`one_line_name`).

    Core, not the ORM: the rows need no objects, and the ORM's bulk path costs more CPU than the
    statement itself. An address that exists (or that another transaction inserts first) is
    skipped by ON CONFLICT DO NOTHING and left to the caller's restart rules. In address order:
    two concurrent batches then wait on each other's rows in one order only, never in a cycle.
    """
    requests = sorted(requests, key=lambda request: request.email)
    by_email = {request.email: request for request in requests}
    status = SubscriberStatus.CONFIRMED if imported else SubscriberStatus.PENDING
    sent_at, confirmed_at = (None, now) if imported else (now, None)
    name_of = one_line_name if imported else clean_name
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        inserted = session.connection().execute(
            _PG_NEW_SUBSCRIBERS,
            {
                "emails": [request.email for request in requests],
                "names": [name_of(request.name) for request in requests],
                "sources": [request.requester.channel[:100] for request in requests],
                "sections": [request.sections for request in requests],
                "status": status,
                "now": now,
                "sent_at": sent_at,
                "confirmed_at": confirmed_at,
            },
        )
    elif dialect == "sqlite":
        table = Subscriber.__table__
        statement = (
            sqlite_insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.email])
            .returning(table.c.id, table.c.email)
        )
        rows = [
            {
                "email": request.email,
                "name": name_of(request.name),
                "status": status,
                "source": request.requester.channel[:100],
                "created_at": now,
                "updated_at": now,
                "confirmation_sent_at": sent_at,
                "confirmed_at": confirmed_at,
                "confirm_nonce": 0,
                "sections": request.sections,
            }
            for request in requests
        ]
        inserted = session.connection().execute(statement, rows)
    else:
        raise RuntimeError(f"bulk subscribe supports PostgreSQL and SQLite, not {dialect}")
    return [(row.id, row.email, by_email[row.email].requester) for row in inserted.all()]


def confirm_token(signer: Signer, subscriber: Subscriber, *, now: datetime) -> str:
    """The confirmation link token; it names the subscription round it belongs to."""
    return signer.dumps(CONFIRM, {"s": subscriber.id, "n": subscriber.confirm_nonce}, now=now)


def unsubscribe_token(signer: Signer, subscriber_id: int) -> str:
    """The unsubscribe token; it never expires, so links in old mails keep working."""
    return signer.dumps(UNSUBSCRIBE, {"s": subscriber_id})


def manage_token(signer: Signer, subscriber_id: int, *, now: datetime | None = None) -> str:
    """The preference-centre token: it names the reader and the day it was made. Every mail
    carries a fresh one; `subscriber_for_manage` refuses one older than its max age."""
    return manage_link_token(signer.keys, subscriber_id, now=now or datetime.now(UTC))


def subscriber_for_manage(
    session: Session, *, signer: Signer, token: str, now: datetime, max_age: timedelta
) -> Subscriber:
    """The reader a preference-centre token names; `InvalidToken` if it is forged, too old, or
    names a reader who is no longer there (erased)."""
    reader = read_manage_link_token(signer.keys, token, now=now, max_days=max_age.days)
    subscriber = _subscriber_from(session, {"s": reader})
    if subscriber.erased_at is not None:
        raise InvalidToken("This link is no longer valid.")
    return subscriber


def subscriber_for_confirm(
    session: Session, *, signer: Signer, token: str, now: datetime, max_age: timedelta
) -> Subscriber:
    """The reader a confirmation token names, if it still confirms (or already did); reads only."""
    payload = signer.loads(CONFIRM, token, now=now, max_age=int(max_age.total_seconds()))
    subscriber = _subscriber_from(session, payload)
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return subscriber
    if (
        subscriber.status != SubscriberStatus.PENDING
        or payload.get("n") != subscriber.confirm_nonce
    ):
        raise InvalidToken("This link is no longer valid. Please subscribe again.")
    return subscriber


def confirm(
    session: Session,
    *,
    signer: Signer,
    token: str,
    requester: Requester,
    now: datetime,
    max_age: timedelta,
) -> Subscriber:
    """Confirm the subscription a token names; repeated confirmations are harmless."""
    subscriber = subscriber_for_confirm(
        session, signer=signer, token=token, now=now, max_age=max_age
    )
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return subscriber
    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = now
    subscriber.updated_at = now
    record_consent(session, subscriber, "confirm", requester, now)
    enqueue(session, jobs.SEND_WELCOME, subscriber.id)
    return subscriber


def subscriber_for_unsubscribe(session: Session, *, signer: Signer, token: str) -> Subscriber:
    """The reader an unsubscribe token names (for the page that asks to confirm)."""
    return _subscriber_from(session, signer.loads(UNSUBSCRIBE, token))


def unsubscribe(
    session: Session, *, subscriber: Subscriber, requester: Requester, now: datetime
) -> bool:
    """Withdraw consent; True if this call changed anything. Old confirm links stop working."""
    if subscriber.status not in SubscriberStatus.SUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now
    subscriber.updated_at = now
    subscriber.confirm_nonce += 1
    record_consent(session, subscriber, "unsubscribe", requester, now)
    return True


def suppress(
    session: Session, *, subscriber: Subscriber, kind: str, now: datetime, channel: str = "mailer"
) -> bool:
    """Stop mailing an address after a hard bounce or a complaint; False if it already was.

    `channel` says for the consent record who reported it: the mailer (the first server's
    refusal), or a late report ("bounce:pipe", "complaint:ses", …).
    """
    if subscriber.status in SubscriberStatus.SUPPRESSED:
        return False
    subscriber.status = kind
    subscriber.updated_at = now
    record_consent(session, subscriber, kind, Requester(channel=channel), now)
    return True


def _subscriber_from(session: Session, payload: Any) -> Subscriber:
    subscriber_id = payload.get("s") if isinstance(payload, dict) else None
    subscriber = session.get(Subscriber, subscriber_id) if isinstance(subscriber_id, int) else None
    if subscriber is None:
        raise InvalidToken("This link is not valid.")
    return subscriber


# PostgreSQL: a batch's rows as arrays, so the statement text is the same for every batch size.
# The VALUES list the generic insert renders varies with it, so neither SQLAlchemy nor psycopg
# can cache it, and converting it costs more CPU than the rows themselves.
_PG_NEW_SUBSCRIBERS = text(
    """
    INSERT INTO subscribers (email, name, source, status, created_at, updated_at,
                             confirmation_sent_at, confirmed_at, confirm_nonce, sections)
    SELECT new.email, new.name, new.source, :status, :now, :now,
           CAST(:sent_at AS timestamp), CAST(:confirmed_at AS timestamp), 0, new.sections
    FROM unnest(CAST(:emails AS varchar[]), CAST(:names AS varchar[]),
                CAST(:sources AS varchar[]), CAST(:sections AS varchar[]))
         WITH ORDINALITY AS new(email, name, source, sections, position)
    ORDER BY new.position
    ON CONFLICT (email) DO NOTHING
    RETURNING id, email
    """
).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("sent_at", type_=UTCDateTime()),
    bindparam("confirmed_at", type_=UTCDateTime()),
)

_PG_CONSENTS = text(
    """
    INSERT INTO consent_events (subscriber_id, email, kind, at, ip, user_agent, channel,
                                consent_text_version, detail)
    SELECT e.subscriber_id, e.email, e.kind, e.at, e.ip, e.user_agent, e.channel, e.version,
           e.detail
    FROM unnest(CAST(:subscriber_ids AS integer[]), CAST(:emails AS varchar[]),
                CAST(:kinds AS varchar[]), CAST(:ats AS timestamp[]), CAST(:ips AS varchar[]),
                CAST(:user_agents AS varchar[]), CAST(:channels AS varchar[]),
                CAST(:versions AS varchar[]), CAST(:details AS varchar[]))
         AS e(subscriber_id, email, kind, at, ip, user_agent, channel, version, detail)
    """
)


def _insert_consents(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert consent records in one statement (on PostgreSQL, one text for any number)."""
    if session.get_bind().dialect.name != "postgresql":
        session.connection().execute(insert(ConsentEvent.__table__), rows)
        return
    at_type = UTCDateTime()
    columns = {
        "subscriber_ids": [row["subscriber_id"] for row in rows],
        "emails": [row["email"] for row in rows],
        "kinds": [row["kind"] for row in rows],
        "ats": [at_type.process_bind_param(row["at"], None) for row in rows],
        "ips": [row["ip"] for row in rows],
        "user_agents": [row["user_agent"] for row in rows],
        "channels": [row["channel"] for row in rows],
        "versions": [row["consent_text_version"] for row in rows],
        "details": [row.get("detail") for row in rows],
    }
    session.connection().execute(_PG_CONSENTS, columns)
