"""Signed, purpose-bound tokens for confirm, unsubscribe and click links; rotation-ready."""

from __future__ import annotations

from collections.abc import Sequence
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
