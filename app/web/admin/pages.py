"""Rendering admin pages: the shared Jinja environment, its filters, and small page helpers."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.models import DeliveryState, IssueStatus

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

REASON_WORDS = {
    "off-topic": "off-topic",
    "already-sent": "already sent in an earlier issue",
    "below-cut": "below the cut (scored lower than the ten listed)",
    "dropped": "dropped by an editor",
    "outside-week": "published outside the week",
    "pin-not-found": "pinned but no longer found",
}


def when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time the way admin pages show it ('—' for none)."""
    return moment.strftime(fmt) + (" UTC" if "%H" in fmt else "") if moment else "—"


def thousands(number: int | float | None) -> str:
    """1234567 → '1,234,567'."""
    return "—" if number is None else f"{number:,.0f}"


# Messages shown once after a form redirected (`?done=pinned`); only these words can appear.
FLASH = {
    "drafted": "The draft was ranked again from this week's posts.",
    "pinned": "Pinned: the post is in the issue and the list was re-ranked.",
    "unpinned": "Unpinned and re-ranked.",
    "dropped": "Dropped: the post is out and the list was re-ranked.",
    "undropped": "The post is back among the candidates; re-ranked.",
    "text": "Subject and intro saved.",
    "test-sent": "Test copies sent.",
    "paused": "Sending paused.",
    "resumed": "Sending resumed.",
    "cancelled": "The send was cancelled; nobody else will get this issue.",
    "feed-added": "Feed added; its first poll is queued.",
    "polling": "Poll queued; reload in a moment to see the result.",
    "erased": "Erased: the address and name are gone, and so are copies of mail to it in the "
    "outbox. The consent record keeps only a keyed hash, the dates and the kinds of event.",
}


def reason_text(reason: str, titles: dict[int, str] | None = None) -> str:
    """An exclusion reason from the ranking in words: 'duplicate-of:12' → 'duplicate of "…"'."""
    kind, _, detail = reason.partition(":")
    if kind == "duplicate-of" and detail.isdigit():
        title = (titles or {}).get(int(detail))
        return f"duplicate of “{title}”" if title else f"duplicate of post {detail}"
    if kind == "source-cap":
        return f"source cap: {detail} already has the most posts allowed" if detail else kind
    return REASON_WORDS.get(kind, reason)


# Headings of the "didn't make it" groups on the review page, by the ranking's reason kind.
GROUP_TITLES = {
    "duplicate-of": "Same story as a listed post",
    "source-cap": "Over the per-source cap",
    "off-topic": "Off-topic",
    "already-sent": "Already sent in an earlier issue",
    "below-cut": "Below the cut",
    "pin-not-found": "Pinned but not found",
}


@cache
def templates() -> Jinja2Templates:
    """The admin pages' Jinja environment with its filters, made on the first page rendered."""
    made = Jinja2Templates(directory=str(TEMPLATES))
    made.env.globals.update(
        GROUP_TITLES=GROUP_TITLES, IssueStatus=IssueStatus, DeliveryState=DeliveryState
    )
    made.env.filters.update(when=when, thousands=thousands)
    return made


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """An admin page: every template gets the settings and the session (for nav and CSRF)."""
    values.setdefault("settings", request.app.state.digest.settings)
    admin = values.get("admin")
    values.setdefault("csrf_token", admin.csrf_token if admin is not None else "")
    values.setdefault("flash", FLASH.get(request.query_params.get("done", "")))
    response = templates().TemplateResponse(request, template, values, status_code=status)
    # Admin pages hold readers' addresses: never cache them, never frame them elsewhere.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def problem(
    request: Request,
    admin: Any,
    heading: str,
    message: str,
    *,
    status: int,
    back: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A page that says what went wrong and links back."""
    return render(
        request,
        "admin/problem.html",
        status=status,
        admin=admin,
        heading=heading,
        message=message,
        back=back,
    )
