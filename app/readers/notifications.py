"""The transactional mails of the reader's journey: confirmation and welcome."""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr

from sqlalchemy.orm import Session

from app.config import Settings
from app.delivery.returns import return_path
from app.delivery.transports import Transport
from app.models import Subscriber, SubscriberStatus
from app.readers.links import confirm_url, reader_links
from app.tokens import MailRef, Signer
from emails.compose import Rendered, build_message, make_message_id
from emails.render import render_confirmation, render_welcome


def sender_domain(settings: Settings) -> str:
    """The domain of the From address, used for Message-IDs and List-Id."""
    address = parseaddr(settings.from_address)[1]
    return address.rpartition("@")[2] or "localhost"


def list_id(settings: Settings) -> str:
    """The List-Id header value (RFC 2919)."""
    return f"{settings.site_name} <weekly.{sender_domain(settings)}>"


def send_confirmation(
    session: Session, *, subscriber_id: int, settings: Settings, transport: Transport, now: datetime
) -> bool:
    """Mail the double opt-in link to a pending reader; False when there is nothing to send."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status != SubscriberStatus.PENDING:
        return False
    signer = Signer(settings.signing_keys())
    rendered = render_confirmation(
        site_name=settings.site_name,
        confirm_url=confirm_url(settings.public_base_url, signer, subscriber, now=now),
        expires_days=settings.confirm_ttl_days,
        name=subscriber.name,
    )
    # No List-Unsubscribe: nobody is on the list yet, and a confirmation is not marketing.
    _deliver(subscriber, rendered, "confirm", None, settings=settings, transport=transport, now=now)
    return True


def send_welcome(
    session: Session, *, subscriber_id: int, settings: Settings, transport: Transport, now: datetime
) -> bool:
    """Welcome a reader who just confirmed, with the one-click unsubscribe headers."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status != SubscriberStatus.CONFIRMED:
        return False
    base = settings.public_base_url
    links = reader_links(base, Signer(settings.signing_keys()), subscriber.id)
    rendered = render_welcome(
        site_name=settings.site_name,
        tagline=settings.tagline,
        unsubscribe_url=links.unsubscribe,
        manage_url=links.manage,
        archive_url=f"{base}/archive",
        postal_address=settings.reader_postal_address,
        name=subscriber.name,
    )
    _deliver(
        subscriber,
        rendered,
        "welcome",
        links.unsubscribe,
        settings=settings,
        transport=transport,
        now=now,
    )
    return True


def _deliver(
    subscriber: Subscriber,
    rendered: Rendered,
    kind: str,
    unsubscribe_url: str | None,
    *,
    settings: Settings,
    transport: Transport,
    now: datetime,
) -> None:
    message = build_message(
        sender=settings.from_address,
        to=subscriber.email,
        subject=rendered.subject,
        rendered=rendered,
        list_unsubscribe_url=unsubscribe_url,
        list_id=list_id(settings) if unsubscribe_url else None,
        date=now,
        message_id=make_message_id(
            kind=kind, issue_id=None, subscriber_id=subscriber.id, domain=sender_domain(settings)
        ),
    )
    sender = return_path(settings, MailRef(kind, None, subscriber.id))
    transport.send(sender=sender, recipient=subscriber.email, message=message)
