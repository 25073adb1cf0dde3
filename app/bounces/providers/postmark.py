"""Postmark's Bounce and Spam Complaint webhooks.

Postmark signs nothing; its documented way to authenticate a webhook is HTTP Basic auth written
into the webhook URL (`https://user:password@news.example.org/webhooks/bounces/postmark`). The
`user:password` is `DIGEST_WEBHOOK_POSTMARK_AUTH`; unset, the provider answers 404.
https://postmarkapp.com/developer/webhooks/webhooks-overview

One JSON object per request. `RecordType` "Bounce" carries `Type` (and its number, `TypeCode`),
`Email`, `Details`, `MessageID` (Postmark's id, not ours) and, when asked for, the raw `Content`
of the bounce; "SpamComplaint" is a complaint. Other record types (Delivery, Open, Click,
SubscriptionChange) are read with a note and nothing applied.
https://postmarkapp.com/developer/webhooks/bounce-webhook
https://postmarkapp.com/developer/webhooks/spam-complaint-webhook
https://postmarkapp.com/developer/api/bounce-api#bounce-types

Which bounce types say what about the reader (by name; the number when the name is missing):
a hard bounce or a bad address suppresses; a soft bounce, a transient failure, a full inbox or
a DNS error counts toward the three soft bounces. A block (`Blocked`), a DMARC refusal or a spam
filter's notice (`SpamNotification`) judge our mail, not the reader's address, and an
auto-reply or a challenge is not a failure: none of them is applied.
"""

from __future__ import annotations

import base64
import binascii
import hmac

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

_KINDS = {
    "HardBounce": BounceKind.HARD,
    "BadEmailAddress": BounceKind.HARD,
    "Transient": BounceKind.SOFT,
    "SoftBounce": BounceKind.SOFT,
    "DnsError": BounceKind.SOFT,
    "InboxFull": BounceKind.SOFT,
    "SpamComplaint": BounceKind.COMPLAINT,
}
_TYPE_NAMES = {
    1: "HardBounce",
    2: "Transient",
    256: "DnsError",
    4096: "SoftBounce",
    100000: "BadEmailAddress",
    100001: "SpamComplaint",
    100008: "InboxFull",
}


class Event(BaseModel):
    """A Postmark webhook payload; only the fields a bounce or complaint needs."""

    model_config = ConfigDict(populate_by_name=True)

    record_type: str = Field(alias="RecordType")
    type: str | None = Field(default=None, alias="Type")
    type_code: int | None = Field(default=None, alias="TypeCode")
    email: str | None = Field(default=None, alias="Email")
    details: str | None = Field(default=None, alias="Details")
    description: str | None = Field(default=None, alias="Description")
    message_id: str | None = Field(default=None, alias="MessageID")
    id: int | str | None = Field(default=None, alias="ID")
    content: str | None = Field(default=None, alias="Content")


def enabled(settings: Settings) -> bool:
    return bool(settings.webhook_postmark_auth)


def verify(incoming: Incoming, checks: Checks) -> None:
    """The Basic credentials are DIGEST_WEBHOOK_POSTMARK_AUTH, compared in constant time."""
    scheme, _, encoded = incoming.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise Unauthenticated("HTTP Basic credentials are required (put them in the webhook URL)")
    try:
        presented = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Forbidden("the Basic credentials are not base64") from None
    expected = checks.settings.webhook_postmark_auth.encode()
    if not hmac.compare_digest(presented, expected):
        raise Forbidden("wrong Basic credentials")


def parse(incoming: Incoming, checks: Checks) -> list[Reading]:
    event = shaped(Event, read_json(incoming.body), "a Postmark webhook payload")
    return [read_event(event)]


def read_event(event: Event) -> Reading:
    """One Postmark event as a report, or a note why it is not one."""
    tokens = tokens_in(event.content)
    reference = str(event.id) if event.id is not None else event.message_id
    if event.record_type not in ("Bounce", "SpamComplaint"):
        return Reading(note=f"Postmark {event.record_type} event: not a bounce", tokens=tokens)
    name = event.type or _TYPE_NAMES.get(event.type_code or 0, "")
    if event.record_type == "SpamComplaint":
        name = "SpamComplaint"
    kind = _KINDS.get(name)
    if kind is None:
        return Reading(note=f"Postmark bounce type {name or '?'}: not applied", tokens=tokens)
    status = failure_status(kind, event.details, event.description)
    report = Report(
        kind=kind,
        recipient=event.email,
        status=status,
        diagnostic=cut(event.details or event.description),
        tokens=tokens,
        reference=reference,
    )
    return Reading(reports=(report,), tokens=tokens)
