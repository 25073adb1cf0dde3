"""Sources page: recent posts and readers' clicks per source, and the editor's weight for each."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app import clock
from app.ranking.sources import (
    CLICK_WEEKS,
    MAX_WEIGHT,
    InvalidSourceWeight,
    SourceRow,
    clicks_in_words,
    set_source_weight,
    source_key,
    source_table,
    stored_weight,
)
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import render
from app.web.deps import db_session

router = APIRouter()
POST_WEEKS = 4  # the page counts the posts of this many recent weeks unless asked otherwise


@dataclass(frozen=True)
class ShownSource:
    """A source row with readers' clicks said in words."""

    row: SourceRow
    clicks_text: str


def _parse_weight(text: str) -> float | str:
    """The typed weight as a number (a decimal comma is fine), or the text itself if it is none."""
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return text


def _page(
    request: Request,
    admin: AdminSession,
    session: Session,
    *,
    weeks: int,
    status: int = 200,
    flash: str | None = None,
    error: str | None = None,
    error_key: str | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    rows = source_table(session, weeks=weeks, now=clock.now())
    shown = [ShownSource(row, clicks_in_words(row)) for row in rows]
    # A refused weight is shown again in its row, or in the form below for a source not listed.
    in_table = error_key in {row.key for row in rows}
    return render(
        request,
        "admin/sources.html",
        status=status,
        admin=admin,
        sources=shown,
        weeks=weeks,
        click_weeks=CLICK_WEEKS,
        max_weight=MAX_WEIGHT,
        flash=flash,
        error=error,
        error_key=error_key if in_table else None,
        typed=typed or {},
        new_source=(typed or {}) if error and not in_table else {},
    )


@router.get("/admin/sources", response_class=HTMLResponse)
def sources(
    request: Request,
    weeks: int = Query(POST_WEEKS, ge=1, le=52),
    saved: str = Query("", max_length=600),
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """Every source with its recent posts, readers' clicks and weight, each weight editable."""
    flash = None
    row = stored_weight(session, saved)
    if row is not None:  # only stored names reach the page, never text from the link
        flash = f"Saved: {row.name} now has weight {row.weight:g}."
    return _page(request, admin, session, weeks=weeks, flash=flash)


@router.post("/admin/sources", response_class=HTMLResponse)
async def save_weight(
    request: Request, admin: AdminSession = Depends(admin_form), session: Session = db_session
) -> Response:
    """Set one source's weight; a bad one re-shows the page with the reason (422)."""
    form = await request.form()
    source, text = str(form.get("source") or ""), str(form.get("weight") or "")
    weeks_text = str(form.get("weeks") or "")
    weeks = int(weeks_text) if weeks_text.isdigit() and 1 <= int(weeks_text) <= 52 else POST_WEEKS
    try:
        row = set_source_weight(session, source=source, weight=_parse_weight(text), now=clock.now())
    except InvalidSourceWeight as error:
        key = source_key(source)
        return _page(
            request,
            admin,
            session,
            weeks=weeks,
            status=422,
            error=str(error).capitalize(),
            error_key=key,
            typed={"source": source[:200], "weight": text[:40]},
        )
    query = urlencode({"weeks": weeks, "saved": row.source_key})
    return RedirectResponse(f"/admin/sources?{query}", 303)
