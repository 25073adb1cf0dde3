"""SendGrid's Signed Event Webhook (`bounce`, `dropped`, `spamreport`).

SendGrid signs each request with ECDSA (P-256, SHA-256) over the `X-Twilio-Email-Event-Webhook-
Timestamp` header's value followed by the exact body; the base64 DER signature is in
`X-Twilio-Email-Event-Webhook-Signature`. The verification key is shown in SendGrid's mail
settings as base64 DER (SubjectPublicKeyInfo); a PEM copy works too. It is
`DIGEST_WEBHOOK_SENDGRID_KEY`; unset, the provider answers 404.
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features

The body is a JSON array of events, each with `event` and `email`:
- `bounce` with `type` "bounce": hard, unless its `status` is 4.x.x (soft). With `type` "blocked"
  the receiving server refused our mail (reputation, content), not the address: soft at most.
- `dropped` with `reason` "Bounced Address" (SendGrid already knows the address bounces) → hard,
  "Spam Reporting Address" → complaint; other reasons are SendGrid's own decisions: not applied.
- `spamreport` → complaint. Anything else (processed, delivered, deferred, open, …): a note.
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
"""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, RootModel

from app.bounces.events import Reading, Report
from app.bounces.providers import (
    Checks,
    Forbidden,
    Incoming,
    Misconfigured,
    Unauthenticated,
    cut,
    failure_status,
    read_json,
    shaped,
    status_in,
    tokens_in,
)
from app.config import Settings
from app.models import BounceKind

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


class Event(BaseModel):
    """One SendGrid event; fields it may add are kept (our tokens may be among them)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event: str
    email: str | None = None
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    sg_event_id: str | None = None
    smtp_id: str | None = Field(default=None, alias="smtp-id")


class Events(RootModel[list[Event]]):
    """A SendGrid webhook request body."""


def enabled(settings: Settings) -> bool:
    return bool(settings.webhook_sendgrid_key.strip())


def public_key(setting: str) -> ec.EllipticCurvePublicKey:
    """DIGEST_WEBHOOK_SENDGRID_KEY as a key: base64 DER as SendGrid shows it, or PEM."""
    text = setting.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Misconfigured(
            "DIGEST_WEBHOOK_SENDGRID_KEY is not an elliptic-curve public key in base64 DER or PEM"
        )
    return key


def verify(incoming: Incoming, checks: Checks) -> None:
    """ECDSA over timestamp + body with the configured public key."""
    signature = incoming.headers.get(SIGNATURE_HEADER, "").strip()
    timestamp = incoming.headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature or not timestamp:
        raise Unauthenticated("the SendGrid signature and timestamp headers are required")
    key = public_key(checks.settings.webhook_sendgrid_key)
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + incoming.body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise Forbidden("the SendGrid signature does not match (wrong verification key?)") from None


def parse(incoming: Incoming, checks: Checks) -> list[Reading]:
    events = shaped(Events, read_json(incoming.body), "a list of SendGrid events")
    return [read_event(event) for event in events.root]


def read_event(event: Event) -> Reading:
    """One SendGrid event as a report, or a note why it is not one."""
    tokens = tokens_in(json.dumps(event.model_dump(by_alias=True)))
    kind = _kind(event)
    if kind is None:
        what = " ".join(part for part in (event.event, event.type or event.reason) if part)
        return Reading(note=f"SendGrid {what} event: not applied", tokens=tokens)
    status = failure_status(kind, event.status, event.reason)
    report = Report(
        kind=kind,
        recipient=event.email,
        status=status,
        diagnostic=cut(event.reason),
        tokens=tokens,
        message_id=event.smtp_id,
        reference=event.sg_event_id,
    )
    return Reading(reports=(report,), tokens=tokens)


def _kind(event: Event) -> BounceKind | None:
    if event.event == "spamreport":
        return BounceKind.COMPLAINT
    if event.event == "dropped":
        return {
            "Bounced Address": BounceKind.HARD,
            "Spam Reporting Address": BounceKind.COMPLAINT,
        }.get(event.reason or "")
    if event.event != "bounce":
        return None
    # A bounce is permanent unless its status says 4.x.x (SendGrid reports retries as deferred).
    temporary = (status_in(event.status) or event.status or "").startswith("4")
    if event.type == "blocked" or temporary:
        return BounceKind.SOFT
    return BounceKind.HARD
