"""The outbox as the admin reads it: the `.eml` files `OutboxTransport` wrote, newest first."""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import cast

# Exactly the names OutboxTransport writes: no slash, no leading dot, so never outside the folder.
NAME = re.compile(r"^\d{8}T\d{6}Z-\d{6}-[a-z0-9][a-z0-9.-]{0,63}\.eml$")
HEAD_BYTES = 32_768  # enough for the headers of any message we write
MAX_MESSAGE = 10_000_000


@dataclass(frozen=True)
class OutboxEntry:
    """One stored message as the list shows it."""

    name: str
    date: str
    to: str
    subject: str


def outbox_names(folder: Path) -> list[str]:
    """Message file names, newest first (names start with their UTC time)."""
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.iterdir() if NAME.match(p.name)), reverse=True)


def _entry(folder: Path, name: str) -> OutboxEntry:
    with (folder / name).open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(head)
    to = str(headers.get("To") or headers.get("X-Envelope-To") or "")
    return OutboxEntry(name, str(headers.get("Date") or ""), to, str(headers.get("Subject") or ""))


def outbox_page(folder: Path, *, limit: int, offset: int) -> tuple[list[OutboxEntry], int]:
    """A page of the outbox, newest first (only its files are opened), and how many there are."""
    names = outbox_names(folder)
    entries = []
    for name in names[offset : offset + limit]:
        try:
            entries.append(_entry(folder, name))
        except OSError:
            continue  # removed while we listed it
    return entries, len(names)


def read_message(folder: Path, name: str) -> EmailMessage | None:
    """The parsed message called `name`, or None when no such outbox file exists."""
    if not NAME.match(name):
        return None
    path = folder / name
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MESSAGE:
        return None
    # With the default policy the parser builds EmailMessage objects.
    return cast(
        EmailMessage, BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    )


def message_part(message: EmailMessage, kind: str) -> str:
    """The decoded `plain` or `html` body of a message ("" when it has none)."""
    body = message.get_body((kind,))
    if body is None:
        return ""
    try:
        return str(body.get_content())  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return "(this part cannot be decoded)"
