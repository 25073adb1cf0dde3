"""History and stats: past issues with deliveries, unsubscribes and clicks, and two SVG charts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from app import clock
from app.tracking.charts import (
    bar_chart,
    clicks_per_issue,
    day_label,
    line_chart,
    subscriber_series,
)
from app.tracking.sends import past_issues
from app.web.admin.auth import AdminSession, current_admin
from app.web.admin.pages import render
from app.web.deps import db_session
from app.web.params import PageNumber
from app.weeks import week_window

router = APIRouter()
PAGE = 20


@router.get("/admin/history", response_class=HTMLResponse)
def history(
    request: Request,
    by: str = Query("day", pattern="^(day|week)$"),
    page: PageNumber = 1,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """Past issues, readers over time, clicks per issue."""
    rows, total = past_issues(session, limit=PAGE, offset=(page - 1) * PAGE)
    days = 90 if by == "day" else 364
    readers = line_chart(
        subscriber_series(session, now=clock.now(), days=days, by=by),
        title=f"Confirmed readers, last {days} days, by {by}",
    )
    # Bars named by the Monday their week began: editors know dates, not ISO week numbers.
    bars = [(day_label(week_window(week)[0].date()), n) for week, n in clicks_per_issue(session)]
    clicks = bar_chart(bars, title="Clicks per issue (latest 12), by the week's Monday")
    return render(
        request,
        "admin/history.html",
        admin=admin,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        by=by,
        readers_chart=Markup(readers),
        clicks_chart=Markup(clicks),  # our SVG, labels escaped
    )
