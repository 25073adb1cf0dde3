"""Amazon SES bounce and complaint notifications, delivered by SNS to our HTTPS endpoint.

Enabled by `DIGEST_SES_TOPIC_ARNS`: SNS signs the messages of every AWS account's topics alike,
so only a signed message from one of the listed topics is believed (`sns` checks the signature).

A SubscriptionConfirmation from a listed topic is confirmed at once, by GETting its SubscribeURL
(itself checked to be on an SNS host): subscribing the endpoint in the SES console then needs no
second step. One from any other topic is refused (403) and never fetched.

The notification (the SNS `Message`, itself JSON) says `notificationType` (or `eventType` when
it comes from an SES configuration set's event publishing):
- Bounce: `bounceType` Permanent → hard; Transient or Undetermined → soft; one report per
  `bouncedRecipients` entry with its `status` and `diagnosticCode`.
- Complaint: one complaint report per `complainedRecipients` entry, unless the feedback type is
  "not-spam" (the reader said it is not spam).
- Anything else (Delivery, Send, Open, …): read, with a note, and nothing applied.
`mail.source` is the envelope sender, so our VERP token is there; `mail.commonHeaders.messageId`
is our Message-ID when headers are included.
https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.bounces.events import Reading, Report
from app.bounces.providers import (
    Checks,
    Forbidden,
    Incoming,
    Unreadable,
    WrongShape,
    cut,
    read_json,
    shaped,
    tokens_in,
)
from app.bounces.providers.sns import Envelope, sns_url, verify_envelope
from app.config import Settings
from app.models import BounceKind

log = logging.getLogger(__name__)

_BOUNCE_KINDS = {"Permanent": BounceKind.HARD, "Transient": BounceKind.SOFT}
# A bounce type SES may add later reads as Undetermined: soft, so it never suppresses at once.


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class _Recipient(_Model):
    email: str = Field(alias="emailAddress")
    status: str | None = None
    diagnostic: str | None = Field(default=None, alias="diagnosticCode")


class _Bounce(_Model):
    bounce_type: str = Field(alias="bounceType")
    sub_type: str | None = Field(default=None, alias="bounceSubType")
    recipients: list[_Recipient] = Field(alias="bouncedRecipients")
    feedback_id: str | None = Field(default=None, alias="feedbackId")


class _Complaint(_Model):
    recipients: list[_Recipient] = Field(alias="complainedRecipients")
    feedback_type: str | None = Field(default=None, alias="complaintFeedbackType")
    feedback_id: str | None = Field(default=None, alias="feedbackId")


class _CommonHeaders(_Model):
    message_id: str | None = Field(default=None, alias="messageId")


class _Mail(_Model):
    source: str | None = None
    message_id: str | None = Field(default=None, alias="messageId")
    common_headers: _CommonHeaders | None = Field(default=None, alias="commonHeaders")


class Notification(_Model):
    """An SES notification: what SNS carries in `Message`."""

    notification_type: str | None = Field(default=None, alias="notificationType")
    event_type: str | None = Field(default=None, alias="eventType")
    mail: _Mail | None = None
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None


def enabled(settings: Settings) -> bool:
    return bool(settings.ses_topic_arns)


def _envelope(incoming: Incoming) -> Envelope:
    return shaped(Envelope, read_json(incoming.body), "an Amazon SNS message")


def verify(incoming: Incoming, checks: Checks) -> None:
    """SNS signed it, and it is from one of our topics."""
    envelope = _envelope(incoming)
    verify_envelope(envelope, checks)
    if envelope.topic_arn not in checks.settings.ses_topic_arns:
        raise Forbidden(f"the topic {envelope.topic_arn!r} is not in DIGEST_SES_TOPIC_ARNS")


def parse(incoming: Incoming, checks: Checks) -> list[Reading]:
    """The notification's reports; a subscription confirmation is answered here."""
    envelope = _envelope(incoming)
    if envelope.type == "SubscriptionConfirmation":
        return [_confirm_subscription(envelope, checks)]
    if envelope.type == "UnsubscribeConfirmation":
        log.warning("SNS unsubscribed this endpoint from %s", envelope.topic_arn)
        return [Reading(note=f"unsubscribed from {envelope.topic_arn}")]
    try:
        document = read_json(envelope.message)
    except Unreadable:
        raise WrongShape("the SNS Message is not JSON, so not an SES notification") from None
    notification = shaped(Notification, document, "an SES notification")
    mail = document.get("mail")  # as sent: its headers may quote our return path
    return [read_notification(notification, raw_mail=mail, reference=envelope.message_id)]


def _confirm_subscription(envelope: Envelope, checks: Checks) -> Reading:
    url = sns_url(envelope.subscribe_url or "", "SubscribeURL")
    checks.fetch(url)
    log.info("confirmed the SNS subscription to %s", envelope.topic_arn)
    return Reading(note=f"subscription to {envelope.topic_arn} confirmed")


def read_notification(notification: Notification, *, raw_mail: Any, reference: str) -> Reading:
    """One SES notification as reports (or a note why there are none)."""
    kind = notification.notification_type or notification.event_type or ""
    mail = notification.mail or _Mail()
    tokens = tokens_in(mail.source, json.dumps(raw_mail))
    message_id = mail.common_headers.message_id if mail.common_headers else None
    if kind == "Bounce" and notification.bounce:
        bounce = notification.bounce
        hard = _BOUNCE_KINDS.get(bounce.bounce_type, BounceKind.SOFT) is BounceKind.HARD
        reports = tuple(
            Report(
                kind=BounceKind.HARD if hard else BounceKind.SOFT,
                recipient=recipient.email,
                status=recipient.status or ("5.0.0" if hard else "4.0.0"),
                diagnostic=cut(recipient.diagnostic or bounce.sub_type),
                tokens=tokens,
                message_id=message_id,
                reference=bounce.feedback_id or reference,
            )
            for recipient in bounce.recipients
        )
        return Reading(reports=reports, tokens=tokens)
    if kind == "Complaint" and notification.complaint:
        complaint = notification.complaint
        if (complaint.feedback_type or "").lower() == "not-spam":
            return Reading(note="complaint of type not-spam: nothing to do", tokens=tokens)
        reports = tuple(
            Report(
                kind=BounceKind.COMPLAINT,
                recipient=recipient.email,
                diagnostic=cut(complaint.feedback_type),
                tokens=tokens,
                message_id=message_id,
                reference=complaint.feedback_id or reference,
            )
            for recipient in complaint.recipients
        )
        return Reading(reports=reports, tokens=tokens)
    return Reading(note=f"SES {kind or 'message'} notification: not a bounce", tokens=tokens)
