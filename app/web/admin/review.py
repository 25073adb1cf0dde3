"""Draft review: one issue with why each post is in or out, pin/drop, edit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.config import Settings
from app.issues.drafts import (
    delivery_counts,
    get_issue,
    prepare_draft,
    update_issue,
)
from app.issues.errors import InvalidEdit, IssueLocked, IssueNotFound
from app.issues.review import left_out, section_labels, section_review, stories
from app.models import Issue, IssueStatus
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import problem, reason_text, redirect_done, render
from app.web.deps import db_session, settings_dep

router = APIRouter()
ACTIONS = {"pin": "pinned", "unpin": "unpinned", "drop": "dropped", "undrop": "undropped"}


def _left_out(session: Session, issue: Issue, settings: Settings) -> dict[str, Any]:
    """The review page's left-out posts by reason (in words) and the editor's drops."""
    found = left_out(session, issue, settings=settings)
    titles = {item.post_id: item.post.title for item in issue.items}
    groups = {
        kind: [{"post": post, "reason": reason_text(reason, titles)} for post, reason in entries]
        for kind, entries in found.groups.items()
    }
    return {"groups": groups, "dropped": found.dropped, "ranking_current": found.current}


@router.get("/admin/issues/{issue_id}", response_class=HTMLResponse)
def review(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> HTMLResponse:
    """One issue: ranked items with score, reasons and sections; what each section's readers
    get and who gets which variant; for a draft, edits and the left-out."""
    issue = get_issue(session, issue_id=issue_id)
    return render(
        request,
        "admin/issue.html",
        admin=admin,
        issue=issue,
        counts=delivery_counts(session, [issue.id])[issue.id],
        editable=issue.status == IssueStatus.DRAFT,
        stories=stories(session, issue.items),
        section_tags=section_labels(issue.items, settings.sections),
        sections=section_review(session, issue, settings=settings, now=clock.now()),
        **_left_out(session, issue, settings),
    )


def _action(form: Any) -> tuple[str, int]:
    """The clicked button's 'pin:12' style value as (action, post id)."""
    action, _, post_id = str(form.get("action") or "").partition(":")
    if action not in ACTIONS or not post_id.isdigit():
        raise ValueError("unknown action")
    return action, int(post_id)


@router.post("/admin/issues/{issue_id}/items")
async def edit_items(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Pin, unpin, drop or undrop one post (the button pressed), then re-rank the draft."""
    form = await request.form()
    try:
        action, post_id = _action(form)
    except ValueError:
        return problem(
            request,
            admin,
            "Unknown action",
            "That button does nothing here.",
            status=422,
            back=(f"/admin/issues/{issue_id}", "Back"),
        )
    return await _edit(
        request, admin, session, settings, issue_id, ACTIONS[action], **{action: [post_id]}
    )


@router.post("/admin/issues/{issue_id}/text")
async def edit_text(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Save the subject and intro of a draft."""
    form = await request.form()
    subject, intro = str(form.get("subject") or ""), str(form.get("intro") or "")
    # Browsers send textarea line breaks as CRLF; store them as plain newlines.
    return await _edit(
        request,
        admin,
        session,
        settings,
        issue_id,
        "text",
        subject=subject,
        intro=intro.replace("\r\n", "\n"),
    )


@router.post("/admin/issues/{issue_id}/rerank")
async def rerank(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Rank the draft's week again from the posts as they are now (pins and drops kept)."""
    try:
        issue = get_issue(session, issue_id=issue_id)
    except IssueNotFound:
        return problem(
            request, admin, "No such issue", f"There is no issue {issue_id}.", status=404
        )
    try:
        await run_in_threadpool(
            prepare_draft, session, week=issue.week, now=clock.now(), settings=settings
        )
    except IssueLocked as error:
        return problem(
            request,
            admin,
            "This issue is locked",
            str(error),
            status=409,
            back=(f"/admin/issues/{issue_id}", "Back to the issue"),
        )
    return redirect_done(request, f"/admin/issues/{issue_id}", "drafted")


async def _edit(
    request: Request,
    admin: AdminSession,
    session: Session,
    settings: Settings,
    issue_id: int,
    done: str,
    **changes: Any,
) -> Response:
    back = (f"/admin/issues/{issue_id}", "Back to the issue")
    try:
        await run_in_threadpool(
            update_issue, session, issue_id=issue_id, now=clock.now(), settings=settings, **changes
        )
    except IssueNotFound:
        return problem(
            request, admin, "No such issue", f"There is no issue {issue_id}.", status=404
        )
    except IssueLocked as error:
        return problem(request, admin, "This issue is locked", str(error), status=409, back=back)
    except InvalidEdit as error:
        return problem(
            request, admin, "That change was not saved", str(error), status=422, back=back
        )
    anchor = "#items" if done != "text" else "#text"
    return redirect_done(request, f"/admin/issues/{issue_id}{anchor}", done)
