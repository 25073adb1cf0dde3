"""Provider webhooks (SPEC §6 `POST /webhooks/bounces/{provider}`): authenticate, read, apply.

One flow for every provider: a provider whose setting is unset does not exist (404); the request
is verified before a byte of it is believed; each report is then applied by `outcomes` with
`trust_address=True` (the provider is authenticated, and Postmark or SendGrid events carry no
return path of ours, only the recipient's address). The provider modules hold what differs:
`ses` (Amazon SES through SNS), `postmark`, `mailgun`, `sendgrid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from sqlalchemy.orm import Session

from app.bounces.events import Reading
from app.bounces.outcomes import Applied, apply_reading
from app.bounces.providers import (
    Checks,
    Incoming,
    NotEnabled,
    UnknownProvider,
    mailgun,
    postmark,
    sendgrid,
    ses,
)

PROVIDERS: dict[str, ModuleType] = {
    "ses": ses,
    "postmark": postmark,
    "mailgun": mailgun,
    "sendgrid": sendgrid,
}


@dataclass(frozen=True)
class Received:
    """What one webhook request did: one `Applied` per report (one per report-less reading)."""

    provider: str
    applied: tuple[Applied, ...]

    @property
    def processed(self) -> int:
        return len(self.applied)

    @property
    def changed(self) -> int:
        return sum(1 for applied in self.applied if applied.changed)


def provider_named(name: str, checks: Checks) -> ModuleType:
    """The provider module, or 404 for an unknown or not enabled one (one answer for both)."""
    provider = PROVIDERS.get(name)
    if provider is None:
        raise UnknownProvider(f"no webhook provider {name!r}; known: {', '.join(PROVIDERS)}")
    if not provider.enabled(checks.settings):
        raise NotEnabled(f"the {name} webhook is not enabled on this server")
    return provider


def read_webhook(name: str, incoming: Incoming, checks: Checks) -> list[Reading]:
    """The request's readings, once it is proven to be the provider's; a refusal otherwise."""
    provider = provider_named(name, checks)
    provider.verify(incoming, checks)
    return provider.parse(incoming, checks)


def receive_webhook(session: Session, name: str, incoming: Incoming, checks: Checks) -> Received:
    """Verify, read and apply one provider request in the caller's transaction."""
    readings = read_webhook(name, incoming, checks)
    applied: list[Applied] = []
    for reading in readings:
        applied += apply_reading(
            session,
            reading,
            source=name,
            settings=checks.settings,
            now=checks.now,
            trust_address=True,
        )
    return Received(name, tuple(applied))
