"""What every source of late outcomes hands on: one `Report` per recipient it is about."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.models import BounceKind


@dataclass(frozen=True)
class Report:
    """One late outcome for one recipient, from a DSN, an ARF report or a provider's event.

    `tokens` are the VERP tokens found in it (`app.tokens.BOUNCE_TOKEN_IN_ADDRESS`), not yet
    verified: `outcomes` keeps the first one our keys signed. `recipient` is the address the
    report names (a DSN's Final-Recipient, a provider's recipient field), when it names one.
    """

    kind: BounceKind
    recipient: str | None = None
    status: str | None = None  # the enhanced status code, "5.1.1"; None for a complaint
    diagnostic: str | None = None  # the remote server's words, cut to 500 characters
    tokens: tuple[str, ...] = ()
    message_id: str | None = None  # the Message-ID of the mail that bounced, if quoted
    reference: str | None = None  # the report's own id: its Message-ID, or a provider event id


@dataclass(frozen=True)
class Reading:
    """What one incoming message or payload held: its reports, or a note why there are none."""

    reports: tuple[Report, ...] = ()
    note: str = ""  # "delivery delayed (warning only)", "auto-reply", "not a bounce", …
    tokens: tuple[str, ...] = field(default=())  # tokens seen anywhere in the message
