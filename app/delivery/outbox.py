"""The outbox transport: each message written as an `.eml` file, when no SMTP server is set."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.config import private_folder
from app.delivery.transports import TransportUnavailable, envelope_address


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _slug(address: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", address.lower().replace("@", "-at-")).strip("-.")[:64]


class OutboxTransport:
    """Writes each message as an `.eml` file in a folder (embedded mode, no SMTP server).

    Names are `<UTC time>-<n>-<recipient>.eml`, so a listing sorts by time. Each file appears
    whole or not at all, and an existing file is never overwritten.
    """

    def __init__(self, folder: Path, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.folder = Path(folder)
        self._clock = clock
        self._stamp = ""
        self._number = 0

    def __enter__(self) -> OutboxTransport:
        private_folder(self.folder)  # whole mails with readers' links: this user's eyes only
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, *, sender: str, recipient: str, message: bytes) -> None:
        """Write the message to the outbox; TransportUnavailable if the folder cannot take it."""
        self.write(sender=sender, recipient=recipient, message=message)

    def write(self, *, sender: str, recipient: str, message: bytes) -> Path:
        """Write the message with X-Envelope-From/To headers in front and return its path."""
        envelope_from = envelope_address(sender, role="sender")
        envelope_to = envelope_address(recipient, role="recipient")
        if not isinstance(message, bytes) or not message:
            raise ValueError("message must be non-empty bytes")
        head = f"X-Envelope-From: <{envelope_from}>\r\nX-Envelope-To: <{envelope_to}>\r\n"
        try:
            private_folder(self.folder)
            # mkstemp makes the file 0600, and os.link keeps that mode under the final name.
            fd, tmp_name = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as tmp:
                    tmp.write(head.encode() + message)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                return self._publish(Path(tmp_name), _slug(envelope_to))
            finally:
                Path(tmp_name).unlink(missing_ok=True)
        except OSError as error:
            raise TransportUnavailable(
                f"cannot write to the outbox {self.folder}: {error}"
            ) from error

    def _publish(self, tmp: Path, slug: str) -> Path:
        # os.link, unlike os.replace, fails on an existing name: a second writer (another
        # process in the same second) moves on to the next number instead of overwriting.
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        if stamp != self._stamp:
            self._stamp, self._number = stamp, 0
        while True:
            self._number += 1
            target = self.folder / f"{stamp}-{self._number:06d}-{slug}.eml"
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            return target


def remove_messages_to(folder: Path, recipient: str) -> int:
    """Delete the stored messages to `recipient` (a reader's erasure); how many went.

    A name carries only a lossy slug of the address ("a+b@x" and "a-b@x" share one), so a file
    goes only when its X-Envelope-To line, written first, names exactly this recipient.
    """
    if not folder.is_dir():
        return 0
    wanted = f"X-Envelope-To: <{envelope_address(recipient, role='recipient')}>".encode()
    removed = 0
    for path in folder.glob(f"*-{_slug(recipient)}.eml"):
        with path.open("rb") as handle:
            head = handle.read(2048).split(b"\r\n")[:2]
        if wanted in head:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
