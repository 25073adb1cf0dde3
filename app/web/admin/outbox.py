"""The outbox viewer (embedded mode, no SMTP): list the `.eml` files and open one as a page."""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import cast

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from app.config import Settings
from app.web.admin.auth import AdminSession, current_admin
from app.web.admin.pages import problem, render
from app.web.deps import settings_dep

router = APIRouter()
# Exactly the names OutboxTransport writes: no slash, no leading dot, so never outside the folder.
NAME = re.compile(r"^\d{8}T\d{6}Z-\d{6}-[a-z0-9][a-z0-9.-]{0,63}\.eml$")
PAGE = 50
HEAD_BYTES = 32_768
MAX_MESSAGE = 10_000_000
SHOWN_HEADERS = ("Date", "From", "To", "Subject")


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


def _part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    if body is None:
        return ""
    try:
        return str(body.get_content())  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return "(this part cannot be decoded)"


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox(
    request: Request,
    page: int = Query(1, ge=1),
    admin: AdminSession = Depends(current_admin),
    settings: Settings = Depends(settings_dep),
) -> HTMLResponse:
    """The outbox, newest first, 50 a page (only this page's files are opened)."""
    names = outbox_names(settings.outbox_dir)
    shown = names[(page - 1) * PAGE : page * PAGE]
    entries = []
    for name in shown:
        try:
            entries.append(_entry(settings.outbox_dir, name))
        except OSError:
            continue  # removed while we listed it
    return render(
        request,
        "admin/outbox.html",
        admin=admin,
        entries=entries,
        total=len(names),
        page=page,
        pages=max(1, -(-len(names) // PAGE)),
        folder=settings.outbox_dir.resolve(),
    )


@router.get("/admin/outbox/{name}", response_class=HTMLResponse)
def outbox_message(
    name: str,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    settings: Settings = Depends(settings_dep),
) -> HTMLResponse:
    """One message: its headers, the HTML part in a sandboxed frame, and the text part."""
    message = read_message(settings.outbox_dir, name)
    if message is None:
        return problem(
            request,
            admin,
            "No such message",
            "That file is not in the outbox.",
            status=404,
            back=("/admin/outbox", "Back to the outbox"),
        )
    headers = [(key, str(value)) for key, value in message.items()]
    return render(
        request,
        "admin/outbox_message.html",
        admin=admin,
        name=name,
        headers=headers,
        subject=str(message.get("Subject") or "(no subject)"),
        html=_part(message, "html"),
        text=_part(message, "plain"),
    )
