"""A reader's data: exported as JSON, or erased (SPEC §10 GDPR). Services never commit.

Erasure removes the address and the name from every row that held them and keeps what proves
that consent was handled: the consent record's kinds, times, channels and text versions, with
the address replaced by its keyed hash ("erased:<hex>"). The database lets exactly that update
through its append-only triggers (migration 0003). The hash is keyed so that a leaked database
cannot be checked against a list of addresses, and stored on the reader's row so that an import
of the same address is refused later (`erased_addresses`), under any configured key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.delivery.outbox import remove_messages_to
from app.errors import Conflict, NotFound
from app.models import (
    BounceEvent,
    ConsentEvent,
    Delivery,
    Issue,
    Subscriber,
    SubscriberStatus,
)
from app.readers.schemas import ReaderExport
from app.sections import split_key

HASH_PREFIX = "erased:"
# Domain separation: the erasure hash never equals anything the same secret signs elsewhere.
_KEY_LABEL = b"weekly-digest/erasure-hash/v1"
CLICKS_NOTE = (
    "Clicks are counted per link of an issue, not per reader: no click is stored with "
    "your address or your id, so there is none to export."
)


class ReaderNotFound(NotFound):
    """No reader has that id."""

    def __init__(self, subscriber_id: int) -> None:
        super().__init__(f"There is no reader {subscriber_id}.")
        self.subscriber_id = subscriber_id


class AlreadyErased(Conflict):
    """The reader's data was erased before: there is nothing left to erase."""

    def __init__(self, subscriber_id: int) -> None:
        super().__init__(f"Reader {subscriber_id} was already erased; nothing is left to erase.")
        self.subscriber_id = subscriber_id


def email_hash(keys: Sequence[str], address: str) -> str:
    """The keyed hash ("erased:<hex>") of a normalised address under the first (signing) key."""
    return _hash(keys[0], address)


def hashes_for(keys: Sequence[str], address: str) -> list[str]:
    """The address's hash under every configured key, so a rotated key still finds it."""
    return [_hash(key, address) for key in keys]


def _hash(key: str, address: str) -> str:
    derived = hmac.new(key.encode(), _KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(derived, address.strip().lower().encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def erased_addresses(session: Session, keys: Sequence[str], addresses: Iterable[str]) -> set[str]:
    """The normalised addresses among `addresses` whose reader was erased (looked up by hash)."""
    by_hash = {digest: address for address in addresses for digest in hashes_for(keys, address)}
    found: set[str] = set()
    hashes = list(by_hash)
    for start in range(0, len(hashes), 500):  # bounded IN lists
        chunk = hashes[start : start + 500]
        rows = session.scalars(
            select(Subscriber.email_hash).where(Subscriber.email_hash.in_(chunk))
        )
        found.update(by_hash[digest] for digest in rows if digest is not None)
    return found


def _reader(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise ReaderNotFound(subscriber_id)
    return subscriber


def export_reader(session: Session, subscriber_id: int, *, now: datetime) -> dict[str, Any]:
    """Everything stored about one reader, as JSON-ready data with stable field names.

    An erased reader exports what is left: the hash, the dates and the event kinds."""
    reader = _reader(session, subscriber_id)
    consents = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .order_by(ConsentEvent.at, ConsentEvent.id)
    )
    deliveries = session.execute(
        select(Delivery, Issue.week, Issue.subject)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Issue.week, Delivery.id)
    )
    bounces = session.execute(
        select(BounceEvent, Issue.week)
        .outerjoin(Issue, Issue.id == BounceEvent.issue_id)
        .where(BounceEvent.subscriber_id == subscriber_id)
        .order_by(BounceEvent.received_at, BounceEvent.id)
    )
    data = {
        "id": reader.id,
        "address": None if reader.erased_at else reader.email,
        "name": reader.name,
        "status": reader.status,
        "source": reader.source,
        "created_at": reader.created_at,
        "updated_at": reader.updated_at,
        "confirmed_at": reader.confirmed_at,
        "unsubscribed_at": reader.unsubscribed_at,
        "erased_at": reader.erased_at,
        "sections": list(split_key(reader.sections)),
        "cadence": reader.cadence,
        "paused_until": reader.paused_until,
        "address_hash": reader.email_hash,
        "exported_at": now,
        "consent_events": [
            {
                "kind": event.kind,
                "at": event.at,
                "address": event.email,
                "ip": event.ip,
                "user_agent": event.user_agent,
                "channel": event.channel,
                "consent_text_version": event.consent_text_version,
                "detail": event.detail,
            }
            for event in consents
        ],
        "deliveries": [
            {
                "issue_id": delivery.issue_id,
                "issue_week": week,
                "issue_subject": subject,
                "state": delivery.state,
                "attempts": delivery.attempts,
                "sent_at": delivery.sent_at,
                "last_error": delivery.last_error,
            }
            for delivery, week, subject in deliveries
        ],
        "bounce_events": [
            {
                "kind": event.kind,
                "status": event.status,
                "diagnostic": event.diagnostic,
                "source": event.source,
                "issue_week": week,
                "received_at": event.received_at,
            }
            for event, week in bounces
        ],
        "clicks": [],
        "clicks_note": CLICKS_NOTE,
    }
    return ReaderExport.model_validate(data).model_dump(mode="json")


@dataclass(frozen=True)
class Erasure:
    """What an erasure did, to show the admin (never the address itself)."""

    subscriber_id: int
    address_hash: str
    erased_at: datetime
    status: str
    consent_events: int
    deliveries: int
    bounce_events: int
    outbox_files: int


def erase_reader(
    session: Session, subscriber_id: int, *, settings: Settings, now: datetime, channel: str
) -> Erasure:
    """Erase one reader's address and name everywhere; keep the hashed consent record.

    The reader's row stays (deliveries and the consent record point at it) with a placeholder
    address that can never receive mail (`.invalid`), no name, and a status that mails nothing:
    unsubscribed, unless a bounce or complaint suppressed it already. Copies of mail to the
    address in the outbox folder are deleted now, before the commit: they are copies of mail
    already sent, so losing them to a rolled-back erasure costs nothing, and it can be repeated.
    """
    reader = session.scalar(
        select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
    )
    if reader is None:
        raise ReaderNotFound(subscriber_id)
    if reader.erased_at is not None:
        raise AlreadyErased(subscriber_id)
    address = reader.email
    digest = email_hash(settings.signing_keys(), address)
    consents = session.execute(
        update(ConsentEvent)
        .where(
            ConsentEvent.subscriber_id == subscriber_id,
            ConsentEvent.email.not_like(f"{HASH_PREFIX}%"),
        )
        .values(email=digest, ip=None, user_agent=None)
        .execution_options(synchronize_session=False)
    )
    deliveries = session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.last_error.is_not(None))
        .values(last_error=None)
        .execution_options(synchronize_session=False)
    )
    bounces = session.execute(
        update(BounceEvent)
        .where(BounceEvent.subscriber_id == subscriber_id, BounceEvent.diagnostic.is_not(None))
        .values(diagnostic=None)
        .execution_options(synchronize_session=False)
    )
    if reader.status in SubscriberStatus.SUBSCRIBED:
        reader.status = SubscriberStatus.UNSUBSCRIBED
        reader.unsubscribed_at = now
    reader.email = f"erased-{reader.id}@erased.invalid"
    reader.name = None
    reader.email_hash = digest
    reader.erased_at = now
    reader.updated_at = now
    reader.confirm_nonce += 1  # any confirmation link still in a mailbox stops working
    session.flush()
    # The erasure itself joins the record, under the hash like the rest.
    session.add(
        ConsentEvent(
            subscriber_id=reader.id, email=digest, kind="erased", at=now, channel=channel[:100]
        )
    )
    session.flush()
    removed = remove_messages_to(settings.outbox_dir, address)
    return Erasure(
        subscriber_id=reader.id,
        address_hash=digest,
        erased_at=now,
        status=reader.status,
        consent_events=consents.rowcount,
        deliveries=deliveries.rowcount,
        bounce_events=bounces.rowcount,
        outbox_files=removed,
    )
