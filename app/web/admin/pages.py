"""Rendering admin pages: the shared Jinja environment, its filters, and small page helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app import clock
from app.models import DeliveryState, IssueStatus
from app.weeks import week_dates, week_window

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


def week_range(week: str | None) -> str:
    """An ISO week ('2026-W48') as the days it covers: 'Mon 23 – Sun 29 Nov'.

    Editors think in dates, not ISO week numbers; the ISO name stays in form values and the API.
    The year is said only for another year's weeks. Anything that is not a week shows as it is.
    """
    try:
        monday = week_window(week or "")[0]
        years = {monday.year, (monday + timedelta(days=6)).year}
        return week_dates(week or "", with_year=years != {clock.now().year})
    except ValueError:
        return week or "—"


def thousands(number: int | float | None) -> str:
    """1234567 → '1,234,567'."""
    return "—" if number is None else f"{number:,.0f}"


def percent(part: int | None, whole: int | None) -> str:
    """part / whole as '4.2 %' ('—' when there is no whole): a click rate is clicks / sent."""
    return f"{100 * (part or 0) / whole:.1f} %" if whole else "—"


# Messages shown once after a form redirected (`redirect_done`); only these words can appear.
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
    "cancelled": "The send was cancelled: nobody else gets this issue unless you send it to "
    "the rest.",
    "sending-rest": "Sending to the rest: only the readers the cancelled send did not reach.",
    "feed-added": "Feed added; its first poll is queued.",
    "polling": "Poll queued; reload in a moment to see the result.",
    "deleted": "The draft was deleted. Its week can be drafted again at any time.",
    "unsubscribed": "Unsubscribed: no more digests go to this reader. The consent record says an "
    "admin did it.",
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
    made.env.filters.update(when=when, thousands=thousands, week_range=week_range, percent=percent)
    return made


# The flash's cookie lives a minute: long enough for the redirect, too short to turn up later.
FLASH_COOKIE, FLASH_SECONDS = "digest_flash", 60


def redirect_done(request: Request, url: str, done: str) -> RedirectResponse:
    """A 303 to `url` whose page says FLASH[done] once: the next admin page shown clears it.

    The cookie only names one of FLASH's fixed sentences, so it needs no signature: a forged
    one can show nothing else. Not in the URL, so no Back or reload brings it back.
    """
    if done not in FLASH:
        raise ValueError(f"no flash message {done!r}")
    response = RedirectResponse(url, 303)
    settings = request.app.state.digest.settings
    response.set_cookie(
        FLASH_COOKIE,
        done,
        max_age=FLASH_SECONDS,
        path="/admin",
        httponly=True,
        samesite="lax",
        secure=settings.public_base_url.startswith("https://"),
    )
    return response


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """An admin page: every template gets the settings and the session (for nav and CSRF)."""
    values.setdefault("settings", request.app.state.digest.settings)
    admin = values.get("admin")
    values.setdefault("csrf_token", admin.csrf_token if admin is not None else "")
    shown = request.cookies.get(FLASH_COOKIE)
    values.setdefault("flash", FLASH.get(shown or ""))
    response = templates().TemplateResponse(request, template, values, status_code=status)
    if shown is not None:  # said once: Back, a reload or the progress page's own reload won't
        response.delete_cookie(FLASH_COOKIE, path="/admin", httponly=True, samesite="lax")
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
