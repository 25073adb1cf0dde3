"""Public archive of sent digests, and the click-tracking redirect."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.issues.mail import digest_content
from app.models import Issue, IssueStatus
from app.tracking.clicks import follow_click
from app.web.deps import WebContext, context, db_session
from app.web.public import message_page, page
from emails.render import render_digest_web

router = APIRouter()
PUBLIC_STATUSES = (IssueStatus.SENT,)


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request, session: Session = db_session) -> HTMLResponse:
    """Every sent digest, newest first."""
    issues = session.scalars(
        select(Issue).where(Issue.status.in_(PUBLIC_STATUSES)).order_by(Issue.week.desc())
    ).all()
    return page(request, "archive.html", issues=issues)


@router.get("/archive/{issue_id}", response_class=HTMLResponse)
def archived_issue(
    issue_id: int,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """One sent digest as a web page (the email's own layout, without a reader's links)."""
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status not in PUBLIC_STATUSES:
        return message_page(
            request,
            "Not found",
            "There is no such issue in the archive.",
            status=404,
            link=("/archive", "All issues"),
        )
    stamp = (issue.sent_at or issue.updated_at).isoformat()
    return HTMLResponse(_web_page(ctx, session, issue, stamp))


_pages: dict[tuple[int, int, str], str] = {}


def _web_page(ctx: WebContext, session: Session, issue: Issue, stamp: str) -> str:
    """Rendered once per issue and version, then served from memory."""
    key = (id(ctx), issue.id, stamp)
    if key not in _pages:
        if len(_pages) > 64:
            _pages.clear()
        content = digest_content(session, issue, settings=ctx.settings, signer=ctx.signer)
        _pages[key] = render_digest_web(content)
    return _pages[key]


@router.get("/r/{token}")
def follow(
    token: str, ctx: WebContext = Depends(context), session: Session = db_session
) -> Response:
    """Redirect a tracked click to the link stored for that issue; anything else is 404."""
    url = follow_click(session, signer=ctx.signer, token=token)
    if url is None:
        return Response("Unknown link", status_code=404, media_type="text/plain")
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
