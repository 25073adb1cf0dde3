"""The dashboard: the current draft, running sends, recent issues; drafting a week and deleting a
draft, each asked again when it could surprise (a week not over yet, a draft about to go)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.config import Settings
from app.issues.calendar import default_week, recent_weeks, unfinished
from app.issues.drafts import delete_draft, get_issue, prepare_draft, requested_week
from app.issues.errors import IssueLocked
from app.issues.review import overview
from app.models import IssueStatus
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import problem, redirect_done, render, week_range
from app.web.deps import db_session, settings_dep
from app.web.params import RowId

router = APIRouter()
BACK = ("/admin", "Back to the dashboard")
# The form field that says the editor saw the "this week is not over" question and said yes.
CONFIRM_UNFINISHED = "draft_unfinished"


@router.get("/admin", response_class=HTMLResponse)
def dashboard(
    request: Request, admin: AdminSession = Depends(current_admin), session: Session = db_session
) -> HTMLResponse:
    """The current draft (or the form to draft a week), running sends, recent issues, readers."""
    now = clock.now()
    board = overview(session, now=now)
    weeks = recent_weeks(session, now=now)
    return render(
        request,
        "admin/dashboard.html",
        admin=admin,
        draft=board.draft,
        live=board.live,
        recent=board.recent,
        counts=board.counts,
        readers=board.readers,
        weeks=weeks,
        chosen=default_week(weeks),
        no_engagement=board.no_engagement,
    )


@router.post("/admin/issues")
async def draft_week(
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Rank a week now and create or refresh its draft, then show it.

    A week that has not ended is drafted only once the editor confirmed it: its draft would miss
    the posts still to come, which nothing on the review page would say.
    """
    form = await request.form()
    now = clock.now()
    try:
        week = requested_week(str(form.get("week") or "").strip() or None, now=now)
    except ValueError as error:
        return problem(request, admin, "Cannot draft that week", str(error), status=422, back=BACK)
    if unfinished(week, now=now) and form.get(CONFIRM_UNFINISHED) != "yes":
        return render(
            request,
            "admin/dashboard_confirm.html",
            admin=admin,
            heading=f"{week_range(week)} is not over yet",
            message="Posts published from now until Sunday night will not be in this draft. "
            "Drafting it on Monday, once the week is complete, lists the whole week.",
            action="/admin/issues",
            fields={"week": week, CONFIRM_UNFINISHED: "yes"},
            yes="Draft it anyway",
            danger=False,
        )
    try:
        drafted = await run_in_threadpool(
            prepare_draft, session, week=week, now=now, settings=settings
        )
    except IssueLocked as error:
        return problem(
            request, admin, "That week is already out", str(error), status=409, back=BACK
        )
    return redirect_done(request, f"/admin/issues/{drafted.issue.id}", "drafted")


def _locked(request: Request, admin: AdminSession, status: str) -> HTMLResponse:
    message = f"This issue is {status}: only a draft can be deleted, so its history stays."
    return problem(request, admin, "Only drafts can be deleted", message, status=409, back=BACK)


@router.get("/admin/issues/{issue_id}/delete", response_class=HTMLResponse)
def confirm_delete(
    issue_id: RowId,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """Ask before deleting a draft (a GET changes nothing)."""
    issue = get_issue(session, issue_id=issue_id)
    if issue.status != IssueStatus.DRAFT:
        return _locked(request, admin, issue.status)
    return render(
        request,
        "admin/dashboard_confirm.html",
        admin=admin,
        heading=f"Delete the draft for {week_range(issue.week)}?",
        message=f"“{issue.subject}” ({len(issue.items)} posts, with its pins, drops, subject and "
        "intro) is deleted. Nobody has been mailed; the week can be drafted again later.",
        action=f"/admin/issues/{issue.id}/delete",
        fields={},
        yes="Delete the draft",
        danger=True,
    )


@router.post("/admin/issues/{issue_id}/delete")
def delete(
    issue_id: RowId,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Delete a draft; an issue whose send started stays (409)."""
    try:
        delete_draft(session, issue_id=issue_id)
    except IssueLocked:
        return _locked(request, admin, get_issue(session, issue_id=issue_id).status)
    return redirect_done(request, "/admin", "deleted")
