"""The messenger seam (listmonk's): the `Transport` interface every mail transport keeps.

Their errors say what went wrong; `verdict` says, in one place, what that means for the reader.
The transports are `smtp.SMTPTransport` and `outbox.OutboxTransport`; `messenger` picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr
from enum import StrEnum
from typing import Protocol


class DeliveryError(Exception):
    """A message was not, or may not have been, delivered; `code` and `reply` carry the answer."""

    def __init__(self, reply: str, code: int | None = None) -> None:
        super().__init__(f"{code} {reply}" if code is not None else reply)
        self.code = code
        self.reply = reply


class TemporaryFailure(DeliveryError):
    """SMTP 4xx: retry this recipient later, with backoff."""


class PermanentFailure(DeliveryError):
    """SMTP 5xx: do not retry this recipient."""


class HardBounce(PermanentFailure):
    """The mailbox or domain does not exist (5.1.x, "user unknown"): suppress the address."""


class TransportUnavailable(DeliveryError):
    """Connection, TLS, authentication or sender trouble: pause the whole send, mark nobody."""


class OutcomeUnknown(DeliveryError):
    """The connection broke after the message data went out: it may or may not have arrived."""


class Verdict(StrEnum):
    """What a failed `Transport.send` means for the reader the message was for (SPEC §9)."""

    RETRY = "retry"  # SMTP 4xx: this reader again later, after the next retry delay
    BOUNCED = "bounced"  # no such mailbox (5.1.x): give up, and suppress the address
    FAILED = "failed"  # refused for good (other 5xx), or an address no envelope can carry
    UNKNOWN = "unknown"  # lost after the data went out: it may have arrived, so never again
    # The server cannot be used at all: nobody is at fault and nobody is marked; the whole run
    # stops and everyone left is tried later (a digest send pauses with a visible reason).
    UNAVAILABLE = "unavailable"


def verdict(error: DeliveryError | ValueError) -> Verdict:
    """The reader's fate after `Transport.send` raised `error`; every sender acts on this."""
    if isinstance(error, TransportUnavailable):
        return Verdict.UNAVAILABLE
    if isinstance(error, TemporaryFailure):
        return Verdict.RETRY
    if isinstance(error, HardBounce):
        return Verdict.BOUNCED
    if isinstance(error, OutcomeUnknown):
        return Verdict.UNKNOWN
    return Verdict.FAILED  # any other refusal, or a ValueError: an unusable address or message


def retry_delay(delays: Sequence[int], tries: int) -> int | None:
    """Seconds to wait after `tries` (≥ 1) tries ended in RETRY; None once they are used up.

    `delays` is DIGEST_RETRY_DELAYS: with five delays a reader is tried six times in all, and a
    sixth RETRY means `failed`.
    """
    return delays[tries - 1] if tries <= len(delays) else None


class Transport(Protocol):
    """What the send engine needs: open once, push many messages, close.

    `send` raises a DeliveryError, or ValueError for an address or message it cannot carry.
    """

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, *, sender: str, recipient: str, message: bytes) -> None: ...


def envelope_address(value: str, *, role: str = "address") -> str:
    """The bare address of `Name <addr>` or `addr`; ValueError if it cannot go in an envelope."""
    if any(char in value for char in "\r\n\0"):
        raise ValueError(f"{role} {value!r} contains a line break")
    address = parseaddr(value)[1]
    if "@" not in address or any(char.isspace() or char in "<>" for char in address):
        raise ValueError(f"{role} {value!r} is not a usable email address")
    return address
