"""Mailgun's event webhooks (`failed`, `complained`).

Mailgun signs each request inside its body: `signature: {timestamp, token, signature}`, where
`signature` is the hex HMAC-SHA256 of `timestamp` followed by `token`, keyed with the webhook
signing key (`DIGEST_WEBHOOK_MAILGUN_KEY`; unset, the provider answers 404). As Mailgun advises,
a timestamp more than five minutes away from our clock is refused, and so is a token shown
before (`Checks.first_sight`: in Redis when the broker is Redis, so every API process shares it).
https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks

`event-data`: `event` "failed" with `severity` "permanent" → hard, "temporary" → soft;
"complained" → complaint. A permanent failure whose `reason` is "suppress-complaint" is Mailgun
refusing to send to an address that complained before, so it is a complaint; "suppress-
unsubscribe" is not a failure of the address. `delivery-status` holds the remote server's code
and words, `envelope.sender` our return path (with the VERP token), `message.headers.message-id`
our Message-ID (without its angle brackets).
https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from app.bounces.events import Reading, Report
from app.bounces.providers import (
    Checks,
    Forbidden,
    Incoming,
    Unauthenticated,
    cut,
    failure_status,
    read_json,
    shaped,
    tokens_in,
)
from app.config import Settings
from app.models import BounceKind

MAX_AGE = timedelta(minutes=5)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Signature(_Model):
    timestamp: str = Field(pattern=r"^\d{1,12}$")
    token: str = Field(min_length=1, max_length=200)
    signature: str = Field(min_length=1, max_length=200)


class _DeliveryStatus(_Model):
    code: int | str | None = None
    enhanced_code: str | None = Field(default=None, alias="enhanced-code")
    message: str | None = None
    description: str | None = None


class _Envelope(_Model):
    sender: str | None = None


class _Message(_Model):
    headers: dict[str, str | None] = Field(default_factory=dict)


class EventData(_Model):
    event: str
    id: str | None = None
    severity: str | None = None
    reason: str | None = None
    recipient: str | None = None
    delivery_status: _DeliveryStatus | None = Field(default=None, alias="delivery-status")
    envelope: _Envelope | None = None
    message: _Message | None = None


class Payload(_Model):
    """A Mailgun webhook request body."""

    signature: Signature
    event_data: EventData = Field(alias="event-data")


def enabled(settings: Settings) -> bool:
    return bool(settings.webhook_mailgun_key)


def verify(incoming: Incoming, checks: Checks) -> None:
    """Signed with our key, recently, and never seen before."""
    document = read_json(incoming.body)
    if not isinstance(document, dict) or "signature" not in document:
        raise Unauthenticated("the body carries no Mailgun signature")
    signed = shaped(Signature, document["signature"], "a Mailgun signature")
    moment = int(signed.timestamp)
    if abs(checks.now.timestamp() - moment) > MAX_AGE.total_seconds():
        raise Forbidden("the Mailgun timestamp is more than 5 minutes away from our clock")
    expected = hmac.new(
        checks.settings.webhook_mailgun_key.encode(),
        f"{signed.timestamp}{signed.token}".encode(),
        hashlib.sha256,
    ).hexdigest()
    if not hmac.compare_digest(expected, signed.signature.lower()):
        raise Forbidden("the Mailgun signature does not match (wrong signing key?)")
    if not checks.first_sight(f"mailgun:{signed.token}"):
        raise Forbidden("this Mailgun token was used before (a replayed request)")


def parse(incoming: Incoming, checks: Checks) -> list[Reading]:
    payload = shaped(Payload, read_json(incoming.body), "a Mailgun webhook payload")
    return [read_event(payload.event_data)]


def read_event(data: EventData) -> Reading:
    """One Mailgun event as a report, or a note why it is not one."""
    sender = data.envelope.sender if data.envelope else None
    tokens = tokens_in(sender)
    headers = {name.lower(): value for name, value in (data.message or _Message()).headers.items()}
    message_id = headers.get("message-id")
    if message_id and not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    kind = _kind(data)
    if kind is None:
        what = f"{data.event} ({data.severity or data.reason or '-'})"
        return Reading(note=f"Mailgun {what} event: not applied", tokens=tokens)
    status = diagnostic = None
    if kind is not BounceKind.COMPLAINT:
        delivery = data.delivery_status or _DeliveryStatus()
        status = failure_status(
            kind, delivery.enhanced_code, delivery.message, delivery.description
        )
        words = " ".join(str(part) for part in (delivery.code, delivery.message) if part)
        diagnostic = cut(words or delivery.description or data.reason)
    report = Report(
        kind=kind,
        recipient=data.recipient,
        status=status,
        diagnostic=diagnostic,
        tokens=tokens,
        message_id=message_id,
        reference=data.id,
    )
    return Reading(reports=(report,), tokens=tokens)


def _kind(data: EventData) -> BounceKind | None:
    if data.event == "complained":
        return BounceKind.COMPLAINT
    if data.event != "failed":
        return None
    if data.severity == "temporary":
        return BounceKind.SOFT
    if data.severity != "permanent" or data.reason == "suppress-unsubscribe":
        return None
    return BounceKind.COMPLAINT if data.reason == "suppress-complaint" else BounceKind.HARD
