"""The outbox viewer (embedded mode, no SMTP): list the `.eml` files and open one as a page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.config import Settings
from app.tracking.outbox import message_part, outbox_page, read_message
from app.web.admin.auth import AdminSession, current_admin
from app.web.admin.pages import problem, render
from app.web.deps import settings_dep
from app.web.params import PageNumber

router = APIRouter()
PAGE = 50


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox(
    request: Request,
    page: PageNumber = 1,
    admin: AdminSession = Depends(current_admin),
    settings: Settings = Depends(settings_dep),
) -> HTMLResponse:
    """The outbox, newest first, 50 a page (only this page's files are opened)."""
    entries, total = outbox_page(settings.outbox_dir, limit=PAGE, offset=(page - 1) * PAGE)
    return render(
        request,
        "admin/outbox.html",
        admin=admin,
        entries=entries,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
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
        html=message_part(message, "html"),
        text=message_part(message, "plain"),
    )
