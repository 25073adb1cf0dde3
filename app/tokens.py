"""Signed, purpose-bound tokens for confirm, unsubscribe, click and preference-centre links;
rotation-ready."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
CLICK = "click"
ADMIN_SESSION = "admin-session"
CSRF = "csrf"
PURPOSES = (CONFIRM, UNSUBSCRIBE, CLICK, ADMIN_SESSION, CSRF)


class InvalidToken(ValueError):
    """The token is malformed, tampered with, signed for another purpose, or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _signer_at(moment: datetime) -> type[TimestampSigner]:
    """itsdangerous reads the clock itself; this signer reads the `now` we pass in instead."""
    stamp = int(moment.timestamp())

    class PinnedClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return PinnedClockSigner


class Signer:
    """Signs with the first key, verifies with any: add a new key first, drop the old one later."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the LAST key of the list and verifies with all of them.
        self._keys = list(reversed(list(keys)))
        self.keys = tuple(keys)  # newest first, for the HMAC tokens below

    def _serializer(self, purpose: str, now: datetime | None) -> URLSafeTimedSerializer:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        salt = f"weekly-digest.{purpose}"
        if now is None:
            return URLSafeTimedSerializer(self._keys, salt=salt)
        return URLSafeTimedSerializer(self._keys, salt=salt, signer=_signer_at(now))

    def dumps(self, purpose: str, payload: Any, *, now: datetime | None = None) -> str:
        """A token for `payload`; `now` stamps it (tests and expiring links)."""
        return self._serializer(purpose, now).dumps(payload)

    def loads(
        self, purpose: str, token: str, *, now: datetime | None = None, max_age: int | None = None
    ) -> Any:
        """The payload of a valid token, or `InvalidToken` with a reason a page can show."""
        if not token or len(token) > 512:
            raise InvalidToken("This link is not valid.")
        try:
            serializer = self._serializer(purpose, now)
            return serializer.loads(token, max_age=max_age)
        except SignatureExpired as error:
            raise InvalidToken("This link has expired.") from error
        except BadData as error:
            raise InvalidToken("This link is not valid.") from error


# --- the return-path token (VERP, SPEC §9) ------------------------------------------------------
#
# A bounce comes back to `bounces+<token>@domain`; the token names the mail it is about. A local
# part holds at most 64 characters and some relays lower-case it, so this token is short and
# lower-case: kind, issue and reader in the clear, then 13 base32 characters (65 bits) of
# HMAC-SHA256 over them. Any configured key verifies; the first signs.

BOUNCE_KINDS = {"d": "digest", "c": "confirm", "w": "welcome"}
_BOUNCE_TOKEN = re.compile(r"([dcw])(\d{1,10})-(\d{1,10})-([a-z2-7]{13})")
# A token as it appears in a VERP address anywhere in a message or payload.
BOUNCE_TOKEN_IN_ADDRESS = re.compile(r"\+([dcw]\d{1,10}-\d{1,10}-[a-z2-7]{13})@", re.IGNORECASE)


@dataclass(frozen=True)
class MailRef:
    """Which mail a bounce token names: a digest (with its issue) or a transactional mail."""

    kind: str  # "digest", "confirm" or "welcome"
    issue_id: int | None
    subscriber_id: int


def _bounce_mac(key: str, letter: str, issue: int, reader: int) -> str:
    digest = hmac.new(
        key.encode(), f"weekly-digest.bounce:{letter}:{issue}:{reader}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:13]


def bounce_token(keys: Sequence[str], ref: MailRef) -> str:
    """The return-path token for one mail: `d12-3456-<mac>` (issue 12, reader 3456)."""
    letter = next((k for k, v in BOUNCE_KINDS.items() if v == ref.kind), None)
    if letter is None or not keys:
        raise ValueError(f"cannot make a bounce token for {ref!r}")
    issue = ref.issue_id if ref.kind == "digest" and ref.issue_id is not None else 0
    reader = ref.subscriber_id
    return f"{letter}{issue}-{reader}-{_bounce_mac(keys[0], letter, issue, reader)}"


def read_bounce_token(keys: Sequence[str], token: str) -> MailRef:
    """The mail a token names, or InvalidToken when it is malformed or not signed by our keys."""
    match = _BOUNCE_TOKEN.fullmatch(token.strip().lower())
    if match is None:
        raise InvalidToken("not a bounce token")
    letter, issue, reader, mac = (
        match.group(1),
        int(match.group(2)),
        int(match.group(3)),
        match.group(4),
    )
    if not any(hmac.compare_digest(_bounce_mac(key, letter, issue, reader), mac) for key in keys):
        raise InvalidToken("the bounce token's signature does not match (forged or old key)")
    kind = BOUNCE_KINDS[letter]
    return MailRef(kind=kind, issue_id=issue if kind == "digest" else None, subscriber_id=reader)


# --- the preference-centre token -------------------------------------------------------------
#
# Every digest copy carries one, so it is made once per message on the send path: itsdangerous'
# JSON, zlib check, timestamp and base64 cost ~20 µs, as much as filling the whole message. This
# token is the reader, the UTC day it was made, and 22 characters (128 bits) of HMAC-SHA256 over
# both: `12345.20424.<mac>`, a few µs. Any configured key verifies; the first signs.

_MANAGE_TOKEN = re.compile(r"(\d{1,12})\.(\d{1,6})\.([A-Za-z0-9_-]{22})")
_DAY = 86_400


def _manage_mac(key: str, reader: int, day: int) -> str:
    digest = hmac.new(
        key.encode(), f"weekly-digest.manage:{reader}:{day}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def manage_link_token(keys: Sequence[str], reader: int, *, now: datetime) -> str:
    """The preference-centre token of `reader`, made on the UTC day of `now`."""
    if not keys:
        raise ValueError("at least one secret key is needed")
    day = int(now.timestamp()) // _DAY
    return f"{reader}.{day}.{_manage_mac(keys[0], reader, day)}"


def read_manage_link_token(keys: Sequence[str], token: str, *, now: datetime, max_days: int) -> int:
    """The reader a preference-centre token names; `InvalidToken` when it is malformed, not
    signed by our keys, made in the future, or more than `max_days` days old."""
    match = _MANAGE_TOKEN.fullmatch(token or "")
    if match is None:
        raise InvalidToken("This link is not valid.")
    reader, day, mac = int(match.group(1)), int(match.group(2)), match.group(3)
    if not any(hmac.compare_digest(_manage_mac(key, reader, day), mac) for key in keys):
        raise InvalidToken("This link is not valid.")
    today = int(now.timestamp()) // _DAY
    if day > today + 1:
        raise InvalidToken("This link is not valid.")
    if today - day > max_days:
        raise InvalidToken("This link has expired.")
    return reader
